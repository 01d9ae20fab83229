-- course-inventory schema, version 2 (MySQL/MariaDB): the Zoom meetings
-- linked from Canvas courses (the seed's canvas_zoom_meetings job), from
-- the Zoom REST API.  zoom_meeting has a row per course and meeting (a
-- meeting may be linked from several courses); zoom_participant a row
-- per participant of a meeting's last instance.  No foreign key to
-- course: the course table is replaced by another job.
CREATE TABLE IF NOT EXISTS zoom_meeting (
	course_id BIGINT NOT NULL,
	meeting_id BIGINT NOT NULL,
	uuid VARCHAR(255) NULL,
	host_id VARCHAR(255) NULL,
	topic VARCHAR(512) NULL,
	meeting_type INT NULL,
	status VARCHAR(25) NULL,
	start_time DATETIME NULL,
	duration INT NULL,
	timezone VARCHAR(64) NULL,
	join_url VARCHAR(1024) NULL,
	source VARCHAR(25) NOT NULL,
	PRIMARY KEY (course_id, meeting_id),
	KEY zoom_meeting_meeting_id (meeting_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS zoom_participant (
	meeting_id BIGINT NOT NULL,
	participant_id VARCHAR(255) NULL,
	user_id VARCHAR(255) NULL,
	name VARCHAR(255) NULL,
	user_email VARCHAR(255) NULL,
	join_time DATETIME NULL,
	leave_time DATETIME NULL,
	duration INT NULL,
	KEY zoom_participant_meeting_id (meeting_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
