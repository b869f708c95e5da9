// wire: to be written
