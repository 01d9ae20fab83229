-- PowerCampus program members for one term: the seed's non-academic
-- mapping (FORMATS.md A2, data/non_academic_mapping.json) enrolled
-- everyone whose ACADEMIC.CURRICULUM for the term is the entry's program
-- (CHIRO, NUTRIT, CLMH) as a student, and never dropped anyone.  Read with
-- the mapping's program entries:
--
--   sis-extract --db "$SIS_DB" --query powercampus-program-members.sql \
--       --param year=2021 --param term=WINTER \
--       --mapping moodle-map.json --program-column program
--
-- The add-only rule is not here but in the change set: enroll-diff
-- --drop-policy-file gives a program's course the policy keep.
-- As in powercampus-enrollments.sql: the year and term are bound
-- parameters; a student on leave or withdrawn (ENROLL_SEPARATION LOA,
-- WITH, AWIT) is not a member, a NULL separation is; user is
-- PEOPLE_CODE_ID without its 'P'.  Columns named as the enrollment query
-- names them, so both streams make one DESIRED file.
SELECT DISTINCT
    REPLACE(p.PEOPLE_CODE_ID, 'P', '') AS "user",
    a.CURRICULUM AS program,
    'student' AS role,
    a.ACADEMIC_TERM AS term,
    a.ACADEMIC_YEAR AS year,
    p.FIRST_NAME AS first_name,
    p.LAST_NAME AS last_name,
    e.Email AS email
FROM ACADEMIC a
INNER JOIN PEOPLE p
    ON p.PEOPLE_CODE_ID = a.PEOPLE_CODE_ID
LEFT JOIN EmailAddress e
    ON e.PeopleOrgCodeId = p.PEOPLE_CODE_ID
   AND e.EmailType = 'STUDENT'
WHERE a.ACADEMIC_YEAR = :year
  AND a.ACADEMIC_TERM = :term
  AND a.CURRICULUM IS NOT NULL
  AND (a.ENROLL_SEPARATION IS NULL
       OR a.ENROLL_SEPARATION NOT IN ('LOA', 'WITH', 'AWIT'))
ORDER BY program, "user"
