-- The usage store as acc-py-usage made it before its schema was versioned (schema version 1,
-- record format 1.0): the tests open such a store with today's code and check its migration.
CREATE TABLE IF NOT EXISTS invocations (time DOUBLE PRECISION NOT NULL, day TEXT NOT NULL, user_name TEXT NOT NULL, uid BIGINT NOT NULL, host TEXT NOT NULL, pid BIGINT NOT NULL, base TEXT NOT NULL, patch INTEGER NOT NULL, status TEXT NOT NULL, eol TEXT, python TEXT NOT NULL, exe TEXT NOT NULL, venv TEXT, kind TEXT NOT NULL, target TEXT, peer TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS invocations_day ON invocations (day);
INSERT INTO invocations VALUES (1690000000.5, '2023-07-22', 'olduser', 1000, 'oldhost', 7, '2021.12', 1, 'supported', NULL, '3.9.18', '/acc/base/2021.12/bin/python3', NULL, 'script', '/home/olduser/job.py', '10.0.0.9');
