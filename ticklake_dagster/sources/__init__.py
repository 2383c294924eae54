"""Where ticks come from: the live ingester, the Dukascopy history import and the synthetic generator."""
