DROP TABLE ssh_host_keys;
