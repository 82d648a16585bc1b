DROP TABLE notification_dead_letters;
