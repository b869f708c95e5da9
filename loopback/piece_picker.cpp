// piece_picker: to be written
