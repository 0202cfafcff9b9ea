"""One package per paper. Importing this package registers every method's gin
configurables, so gin files can name them."""
