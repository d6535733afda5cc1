"""inTEST Thermal Solutions (Temptronic) ThermoStream thermal forcing system drivers."""
