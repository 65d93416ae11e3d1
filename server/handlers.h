#ifndef REFXD_HANDLERS_H
#define REFXD_HANDLERS_H

#include "server.h"

/* h_basic.c */
handler_fn h_whoami;
handler_fn h_health;
handler_fn h_directory;
handler_fn h_policy;

/* consents.c */
handler_fn h_consent_record;
handler_fn h_consent_list;
handler_fn h_consent_show;
handler_fn h_consent_withdraw;

/* referrals.c */
handler_fn h_referral_submit;
enum refx_err prepare_referral_submit(struct request *);
handler_fn h_referral_list;
handler_fn h_referral_pull;
handler_fn h_referral_receipts;

/* caseflow.c */
handler_fn h_case_list;
handler_fn h_case_overdue;
handler_fn h_case_status;
handler_fn h_case_step;

/* h_audit.c */
handler_fn h_audit_logs;
handler_fn h_audit_log;
handler_fn h_audit_checkpoint;

#endif /* !REFXD_HANDLERS_H */
