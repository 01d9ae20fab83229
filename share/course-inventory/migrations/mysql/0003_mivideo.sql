-- course-inventory schema, version 3 (MySQL/MariaDB): MiVideo (Kaltura)
-- tables as the seed named them (its migrations 0012, 0016, 0021).
-- mivideo_media_created holds one row per Kaltura media entry;
-- MAX(created_at) is where the next run's fetch starts (the seed's "last
-- timestamp already in the database"), so it advances in the same
-- transaction as the rows.  mivideo_media_courses: the Canvas courses an
-- entry is published in (category Canvas_UMich>site>channels>COURSE
-- [>InContext]).  mivideo_media_started_hourly came from the Unizin Data
-- Platform (BigQuery), which edpipe does not read: kept for the seed's
-- dashboards.  Every statement can run again.
CREATE TABLE IF NOT EXISTS mivideo_media_created (
	id VARCHAR(64) NOT NULL PRIMARY KEY,
	created_at DATETIME NOT NULL,
	name VARCHAR(255) NOT NULL,
	duration BIGINT NOT NULL DEFAULT 0,
	KEY mivideo_media_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS mivideo_media_courses (
	media_id VARCHAR(64) NOT NULL,
	course_id BIGINT NOT NULL,
	in_context TINYINT(1) NOT NULL DEFAULT 0,
	PRIMARY KEY (media_id, course_id, in_context),
	KEY mivideo_media_courses_course (course_id),
	CONSTRAINT mivideo_media_courses_media_fk FOREIGN KEY (media_id)
		REFERENCES mivideo_media_created (id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS mivideo_media_started_hourly (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	event_hour_utc VARCHAR(20) NOT NULL,
	course_id BIGINT NOT NULL,
	event_time_utc_latest DATETIME NOT NULL,
	event_count BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
