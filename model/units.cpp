// units
