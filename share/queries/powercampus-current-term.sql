-- The PowerCampus term in session on a date, from its term calendar
-- (ACADEMICCALENDAR: one row per year, term and session, with START_DATE
-- and END_DATE).  The seed hard-coded TERM='Winter', YEAR='2021' and was
-- edited every term; sync-enrollments asks this instead:
--
--   sis-extract --db "$SIS_DB" --query powercampus-current-term.sql \
--       --param today=2021-02-15
--
-- One row (year, term) when the date is in a term, none between terms,
-- more when terms overlap (sync-enrollments refuses that as ambiguous).
-- :today is an ISO date (YYYY-MM-DD), which SQL Server, PostgreSQL and
-- SQLite all compare with a date column.
SELECT DISTINCT
    c.ACADEMIC_YEAR AS year,
    c.ACADEMIC_TERM AS term
FROM ACADEMICCALENDAR c
WHERE c.START_DATE <= :today
  AND c.END_DATE >= :today
ORDER BY year, term
