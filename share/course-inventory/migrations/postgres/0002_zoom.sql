-- course-inventory schema, version 2 (postgres): the Zoom meetings linked from
-- Canvas courses (see mysql/0002_zoom.sql).
CREATE TABLE IF NOT EXISTS zoom_meeting (
	course_id BIGINT NOT NULL,
	meeting_id BIGINT NOT NULL,
	uuid VARCHAR(255) NULL,
	host_id VARCHAR(255) NULL,
	topic VARCHAR(512) NULL,
	meeting_type INT NULL,
	status VARCHAR(25) NULL,
	start_time TIMESTAMP NULL,
	duration INT NULL,
	timezone VARCHAR(64) NULL,
	join_url VARCHAR(1024) NULL,
	source VARCHAR(25) NOT NULL,
	PRIMARY KEY (course_id, meeting_id)
);
CREATE INDEX IF NOT EXISTS zoom_meeting_meeting_id ON zoom_meeting (meeting_id);

CREATE TABLE IF NOT EXISTS zoom_participant (
	meeting_id BIGINT NOT NULL,
	participant_id VARCHAR(255) NULL,
	user_id VARCHAR(255) NULL,
	name VARCHAR(255) NULL,
	user_email VARCHAR(255) NULL,
	join_time TIMESTAMP NULL,
	leave_time TIMESTAMP NULL,
	duration INT NULL
);
CREATE INDEX IF NOT EXISTS zoom_participant_meeting_id ON zoom_participant (meeting_id);
