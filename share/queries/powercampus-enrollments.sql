-- PowerCampus enrollments for one term, as mdlpipeline's get_all_rosters
-- read them (FORMATS.md A2), with its failure modes fixed:
--   * the year and term are bound parameters, never pasted into the SQL;
--   * a NULL ENROLL_SEPARATION (most students) keeps the row: `NOT IN` on
--     a NULL is unknown, which silently dropped those students;
--   * a NULL FINAL_GRADE (a term still in progress) keeps the row too;
--   * user = PEOPLE_CODE_ID without its leading 'P' (the Moodle idnumber).
-- Active rows only (ADD_DROP_WAIT = 'A'); withdrawn grades W and WA out;
-- an AU grade is an auditor.  Columns course and section are what
-- `sis-extract --mapping` looks courses up by.
--
--   sis-extract --db "$SIS_DB" --query powercampus-enrollments.sql \
--       --param year=2021 --param term=WINTER --mapping moodle-map.json
--
-- Portable: SQL Server, PostgreSQL and SQLite (no dbo. prefix; the default
-- schema is dbo).
SELECT DISTINCT
    REPLACE(p.PEOPLE_CODE_ID, 'P', '') AS "user",
    td.EVENT_ID AS course,
    td.SECTION AS section,
    CASE WHEN td.FINAL_GRADE = 'AU' THEN 'auditingstudent'
         ELSE 'student' END AS role,
    td.ACADEMIC_TERM AS term,
    td.ACADEMIC_YEAR AS year,
    p.FIRST_NAME AS first_name,
    p.LAST_NAME AS last_name,
    e.Email AS email
FROM TRANSCRIPTDETAIL td
INNER JOIN SECTIONS s
    ON s.ACADEMIC_YEAR = td.ACADEMIC_YEAR
   AND s.ACADEMIC_TERM = td.ACADEMIC_TERM
   AND s.ACADEMIC_SESSION = td.ACADEMIC_SESSION
   AND s.EVENT_ID = td.EVENT_ID
   AND s.EVENT_SUB_TYPE = td.EVENT_SUB_TYPE
   AND s.SECTION = td.SECTION
INNER JOIN PEOPLE p
    ON p.PEOPLE_CODE_ID = td.PEOPLE_CODE_ID
LEFT JOIN ACADEMIC a
    ON a.PEOPLE_CODE_ID = td.PEOPLE_CODE_ID
   AND a.ACADEMIC_YEAR = td.ACADEMIC_YEAR
   AND a.ACADEMIC_TERM = td.ACADEMIC_TERM
   AND a.ACADEMIC_SESSION = td.ACADEMIC_SESSION
LEFT JOIN EmailAddress e
    ON e.PeopleOrgCodeId = p.PEOPLE_CODE_ID
   AND e.EmailType = 'STUDENT'
WHERE td.ACADEMIC_YEAR = :year
  AND td.ACADEMIC_TERM = :term
  AND td.ADD_DROP_WAIT = 'A'
  AND (td.FINAL_GRADE IS NULL OR td.FINAL_GRADE NOT IN ('W', 'WA'))
  AND (a.ENROLL_SEPARATION IS NULL
       OR a.ENROLL_SEPARATION NOT IN ('LOA', 'WITH', 'AWIT'))
ORDER BY course, section, "user"
