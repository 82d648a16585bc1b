DROP TABLE notifiers;
