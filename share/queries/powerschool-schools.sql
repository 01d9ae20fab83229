-- The PowerSchool schools that are not excluded from state reporting,
-- with the columns of the Clever schools.csv (clever-sections with
-- CLEVER_FILES naming schools, and the orgs of its OneRoster package).
-- Column names are those of Clever, lower case: conduit-fmt matches them
-- without regard to case.  state_id is alternate_school_number, the
-- number the state gives the school in most districts.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$SIS_DB" --query powerschool-schools.sql
SELECT
    sc.school_number AS school_id,
    sc.name AS school_name,
    sc.school_number,
    sc.alternate_school_number AS state_id,
    sc.low_grade,
    sc.high_grade,
    sc.principal,
    sc.principalemail AS principal_email,
    sc.schooladdress AS school_address,
    sc.schoolcity AS school_city,
    sc.schoolstate AS school_state,
    sc.schoolzip AS school_zip,
    sc.schoolphone AS school_phone
FROM schools sc
WHERE sc.state_excludefromreporting = 0
ORDER BY sc.school_number
