-- course-inventory schema, version 1 (SQLite): the seed's tables
-- (FORMATS.md A3).  Times are TEXT 'YYYY-MM-DD HH:MM:SS' in UTC (SQLite's
-- own date functions read them); foreign keys are declared, and enforced
-- where the connection turns them on.
CREATE TABLE IF NOT EXISTS term (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	name VARCHAR(255) NULL,
	sis_id VARCHAR(255) NULL,
	start_at TIMESTAMP NULL,
	end_at TIMESTAMP NULL
);

CREATE TABLE IF NOT EXISTS course (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	sis_id VARCHAR(255) NULL,
	name VARCHAR(255) NOT NULL,
	account_id BIGINT NOT NULL,
	term_id BIGINT NOT NULL,
	created_at TIMESTAMP NULL,
	workflow_state VARCHAR(25) NOT NULL,
	total_students INT NOT NULL DEFAULT 0,
	published_at TIMESTAMP NULL,
	last_activity_at TIMESTAMP NULL,
	CONSTRAINT course_term_fk FOREIGN KEY (term_id)
		REFERENCES term (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS course_term_id ON course (term_id);
CREATE INDEX IF NOT EXISTS course_account_id ON course (account_id);

CREATE TABLE IF NOT EXISTS course_section (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	course_id BIGINT NOT NULL,
	name VARCHAR(255) NULL,
	sis_id VARCHAR(255) NULL,
	CONSTRAINT course_section_course_fk FOREIGN KEY (course_id)
		REFERENCES course (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS course_section_course_id ON course_section (course_id);

CREATE TABLE IF NOT EXISTS "user" (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	name VARCHAR(255) NULL,
	login_id VARCHAR(255) NULL,
	sis_id VARCHAR(255) NULL,
	last_activity_at TIMESTAMP NULL
);
CREATE INDEX IF NOT EXISTS user_sis_id ON "user" (sis_id);

CREATE TABLE IF NOT EXISTS enrollment (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	course_id BIGINT NOT NULL,
	course_section_id BIGINT NULL,
	user_id BIGINT NOT NULL,
	workflow_state VARCHAR(25) NOT NULL,
	role_type VARCHAR(50) NOT NULL,
	role VARCHAR(100) NULL,
	last_activity_at TIMESTAMP NULL,
	CONSTRAINT enrollment_course_fk FOREIGN KEY (course_id)
		REFERENCES course (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE,
	CONSTRAINT enrollment_section_fk FOREIGN KEY (course_section_id)
		REFERENCES course_section (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE,
	CONSTRAINT enrollment_user_fk FOREIGN KEY (user_id)
		REFERENCES "user" (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS enrollment_course_id ON enrollment (course_id);
CREATE INDEX IF NOT EXISTS enrollment_section_id ON enrollment (course_section_id);
CREATE INDEX IF NOT EXISTS enrollment_user_id ON enrollment (user_id);

CREATE TABLE IF NOT EXISTS job_run (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	job_name VARCHAR(50) NOT NULL,
	started_at TIMESTAMP NOT NULL,
	finished_at TIMESTAMP NOT NULL,
	status VARCHAR(20) NOT NULL
);
CREATE INDEX IF NOT EXISTS job_run_job ON job_run (job_name, started_at);

CREATE TABLE IF NOT EXISTS data_source_status (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	data_source_name VARCHAR(50) NOT NULL,
	data_updated_at TIMESTAMP NULL,
	job_run_id INT NOT NULL,
	CONSTRAINT data_source_status_job_run_fk FOREIGN KEY (job_run_id)
		REFERENCES job_run (id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS data_source_status_name ON data_source_status (data_source_name);

