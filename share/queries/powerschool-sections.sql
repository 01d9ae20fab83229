-- PowerSchool sections of one school and term with their courses and
-- teachers, one row per section teacher (the queries 4 and 5 of
-- D118-CleverSections in one, FORMATS.md A1).  Sections without a teacher still come
-- back, with NULL teacher columns.  Dates come back as ISO 8601.
--
-- PowerSchool numbers terms per school: the same terms.id names another
-- term (other dates) in each school, so terms are joined on (id,
-- schoolid), never on the id alone.  term_abbreviation, year_abbreviation
-- (the abbreviation of the year term, e.g. "25-26") and term_is_year are
-- what clever-sections builds Term_name from ("S1 25-26", "Year 25-26"),
-- term_name is the bare abbreviation.  term_id, year_term_id and the
-- year dates are what the OneRoster package makes its academic sessions
-- of.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$SIS_DB" --query powerschool-sections.sql \
--       --param school=10 --param term=3501 -t csv
SELECT
    sc.school_number AS school_id,
    s.id AS section_id,
    s.section_number,
    s.course_number,
    c.course_name,
    c.credittype AS subject,
    s.grade_level,
    s.expression AS period,
    t.abbreviation AS term_name,
    t.abbreviation AS term_abbreviation,
    y.abbreviation AS year_abbreviation,
    t.isyearrec AS term_is_year,
    t.firstday AS term_start,
    t.lastday AS term_end,
    s.termid AS term_id,
    y.id AS year_term_id,
    y.firstday AS year_start,
    y.lastday AS year_end,
    te.users_dcid AS teacher_id,
    te.first_name AS teacher_first_name,
    te.last_name AS teacher_last_name,
    r.name AS teacher_role
FROM sections s
INNER JOIN schools sc ON sc.school_number = s.schoolid
INNER JOIN terms t ON t.id = s.termid AND t.schoolid = s.schoolid
LEFT JOIN terms y ON y.schoolid = t.schoolid AND y.yearid = t.yearid
    AND y.isyearrec = 1
LEFT JOIN courses c ON c.course_number = s.course_number
LEFT JOIN sectionteacher st ON st.sectionid = s.id
LEFT JOIN teachers te ON te.id = st.teacherid
LEFT JOIN roledef r ON r.id = st.roleid
WHERE s.schoolid = :school
  AND s.termid = :term
  AND sc.state_excludefromreporting = 0
ORDER BY s.id, st.roleid, st.id
