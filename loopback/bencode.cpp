// bencode: to be written
