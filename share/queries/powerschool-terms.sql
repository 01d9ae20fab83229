-- The school years of every PowerSchool school that is not excluded from
-- state reporting, with all the terms of each year: what clever-sections
-- chooses the current year of a school from when CLEVER_TERMS is not set
-- (the queries 1 to 3 of D118-CleverSections in one, FORMATS.md A1).
--
-- A year is its year term (isyearrec = 1), its terms are those of the
-- same school and yearid (the year term itself, semesters, quarters),
-- year term first.  Years that start after :horizon (the date of the run
-- plus CLEVER_NEXT_YEAR_DAYS) are left out, the script picks, per
-- school, the year containing the date, else the next, else the last
-- (edpipe-clever-sections(1)).  A school with no year on or before
-- :horizon comes back once with NULL year columns, so it can be named.
-- :horizon is an ISO 8601 date, compared with firstday.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$SIS_DB" --query powerschool-terms.sql \
--       --param horizon=2025-09-16
SELECT
    sc.school_number AS school,
    y.yearid AS year_id,
    y.abbreviation AS year_abbreviation,
    y.firstday AS year_start,
    y.lastday AS year_end,
    t.id AS term,
    t.abbreviation AS term_abbreviation,
    t.isyearrec AS term_is_year,
    t.firstday AS term_start,
    t.lastday AS term_end
FROM schools sc
LEFT JOIN terms y ON y.schoolid = sc.school_number AND y.isyearrec = 1
    AND y.firstday <= :horizon
LEFT JOIN terms t ON t.schoolid = y.schoolid AND t.yearid = y.yearid
WHERE sc.state_excludefromreporting = 0
ORDER BY sc.school_number, y.firstday, t.isyearrec DESC, t.id
