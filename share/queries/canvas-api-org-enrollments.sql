-- canvasApi org enrollments: account roles (admins of sub-accounts) to
-- add and to drop, as lms-push canvas change records with an account
-- field (POST and DELETE /api/v1/accounts/ID/admins).
--
-- sis_canvas_admins is the site's replicated table of the account roles
-- the SIS wants (account_id: the SIS id of the sub-account, user_id: the
-- SIS user id, role: the Canvas account role, AccountAdmin or a custom
-- one).  cnv_admins and cnv_accounts are the admins and accounts parts of
-- Canvas's provisioning report (replicate --provisions): the account is
-- sent by its Canvas id, so a sub-account must be in cnv_accounts.
-- Only roles the SIS made (created_by_sis true) are dropped.
--
-- No apostrophe, semicolon or question mark in these comments: some ODBC
-- drivers (the SQLite one) read comments as SQL.
--
--   sis-extract --db "$REPORTING_DB" --query canvas-api-org-enrollments.sql
SELECT op, account, "user", role FROM (
    SELECT
        'add' AS op,
        a.canvas_account_id AS account,
        s.user_id AS "user",
        s.role AS role
    FROM sis_canvas_admins s
    JOIN cnv_accounts a ON a.account_id = s.account_id
    WHERE NOT EXISTS (
        SELECT 1 FROM cnv_admins c
        WHERE c.account_id = s.account_id
          AND c.user_id = s.user_id
          AND c.role = s.role
          AND c.status = 'active')
    UNION ALL
    SELECT
        'drop' AS op,
        c.canvas_account_id AS account,
        c.user_id AS "user",
        c.role AS role
    FROM cnv_admins c
    WHERE c.status = 'active'
      AND c.created_by_sis = 'true'
      AND c.user_id IS NOT NULL
      AND NOT EXISTS (
        SELECT 1 FROM sis_canvas_admins s
        WHERE s.account_id = c.account_id
          AND s.user_id = c.user_id
          AND s.role = c.role)
) changes
ORDER BY op, account, "user", role
