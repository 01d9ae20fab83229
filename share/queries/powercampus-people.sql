-- PowerCampus people to provision as LMS users for one term (#22): the
-- seed's Conduit client wrote user rows (mdlpipeline conduit.py
-- transform_provision_df: action create, idnumber without its 'P',
-- username the e-mail address) from PEOPLE and EmailAddress.  Read by
-- sync-enrollments with SYNC_USERS=1:
--
--   sis-extract --db "$SIS_DB" --query powercampus-people.sql \
--       --param year=2021 --param term=WINTER
--
-- then enroll-diff -k user --update-on firstname,lastname,email against
-- lms-fetch moodle users, and conduit-fmt -t conduit-users (or
-- canvas-users).  The people are those with an academic record for the
-- term who are not on leave or withdrawn (ENROLL_SEPARATION LOA, WITH,
-- AWIT; a NULL separation is kept), as in powercampus-enrollments.sql.
-- email is NULL for a person without a student address: sync-enrollments
-- lists such people (no-email.ndjson) and creates no account for them.
-- The demo SIS (share/demo-sis/make-demo-sis) has the same tables, so
-- this file serves it too.
SELECT DISTINCT
    REPLACE(p.PEOPLE_CODE_ID, 'P', '') AS "user",
    LOWER(e.Email) AS username,
    p.FIRST_NAME AS firstname,
    p.LAST_NAME AS lastname,
    e.Email AS email
FROM ACADEMIC a
INNER JOIN PEOPLE p
    ON p.PEOPLE_CODE_ID = a.PEOPLE_CODE_ID
LEFT JOIN EmailAddress e
    ON e.PeopleOrgCodeId = p.PEOPLE_CODE_ID
   AND e.EmailType = 'STUDENT'
WHERE a.ACADEMIC_YEAR = :year
  AND a.ACADEMIC_TERM = :term
  AND (a.ENROLL_SEPARATION IS NULL
       OR a.ENROLL_SEPARATION NOT IN ('LOA', 'WITH', 'AWIT'))
ORDER BY "user"
