-- course-inventory schema, version 1 (MySQL/MariaDB): the seed's tables
-- (FORMATS.md A3) with typed columns.  Canvas ids are BIGINT (sharded
-- Canvas ids pass 2^31); times are DATETIME in UTC.  Every statement can
-- run again (MariaDB commits DDL one statement at a time).
CREATE TABLE IF NOT EXISTS term (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	name VARCHAR(255) NULL,
	sis_id VARCHAR(255) NULL,
	start_at DATETIME NULL,
	end_at DATETIME NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS course (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	sis_id VARCHAR(255) NULL,
	name VARCHAR(255) NOT NULL,
	account_id BIGINT NOT NULL,
	term_id BIGINT NOT NULL,
	created_at DATETIME NULL,
	workflow_state VARCHAR(25) NOT NULL,
	total_students INT NOT NULL DEFAULT 0,
	published_at DATETIME NULL,
	last_activity_at DATETIME NULL,
	KEY course_term_id (term_id),
	KEY course_account_id (account_id),
	CONSTRAINT course_term_fk FOREIGN KEY (term_id)
		REFERENCES term (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS course_section (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	course_id BIGINT NOT NULL,
	name VARCHAR(255) NULL,
	sis_id VARCHAR(255) NULL,
	KEY course_section_course_id (course_id),
	CONSTRAINT course_section_course_fk FOREIGN KEY (course_id)
		REFERENCES course (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS user (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	name VARCHAR(255) NULL,
	login_id VARCHAR(255) NULL,
	sis_id VARCHAR(255) NULL,
	last_activity_at DATETIME NULL,
	KEY user_sis_id (sis_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS enrollment (
	canvas_id BIGINT NOT NULL PRIMARY KEY,
	course_id BIGINT NOT NULL,
	course_section_id BIGINT NULL,
	user_id BIGINT NOT NULL,
	workflow_state VARCHAR(25) NOT NULL,
	role_type VARCHAR(50) NOT NULL,
	role VARCHAR(100) NULL,
	last_activity_at DATETIME NULL,
	KEY enrollment_course_id (course_id),
	KEY enrollment_section_id (course_section_id),
	KEY enrollment_user_id (user_id),
	CONSTRAINT enrollment_course_fk FOREIGN KEY (course_id)
		REFERENCES course (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE,
	CONSTRAINT enrollment_section_fk FOREIGN KEY (course_section_id)
		REFERENCES course_section (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE,
	CONSTRAINT enrollment_user_fk FOREIGN KEY (user_id)
		REFERENCES user (canvas_id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS job_run (
	id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	job_name VARCHAR(50) NOT NULL,
	started_at DATETIME NOT NULL,
	finished_at DATETIME NOT NULL,
	status VARCHAR(20) NOT NULL,
	KEY job_run_job (job_name, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS data_source_status (
	id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	data_source_name VARCHAR(50) NOT NULL,
	data_updated_at DATETIME NULL,
	job_run_id INT NOT NULL,
	KEY data_source_status_name (data_source_name),
	CONSTRAINT data_source_status_job_run_fk FOREIGN KEY (job_run_id)
		REFERENCES job_run (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
