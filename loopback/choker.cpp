// choker: to be written
