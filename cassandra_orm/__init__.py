"""A small data mapper over cassandra-driver. It never imports Django."""
