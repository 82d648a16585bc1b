DROP TABLE org_policy;
