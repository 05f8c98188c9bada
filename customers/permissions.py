"""Permission names: the one place views, templates' context and the group migration take them from."""

VIEW_CUSTOMERS = "customers.view_customers"
EDIT_CUSTOMERS = "customers.edit_customers"
CHANGE_CUSTOMER_STATE = "customers.change_customer_state"
CHANGE_ACCOUNT_STATE = "customers.change_account_state"
EXPORT_CUSTOMERS = "customers.export_customers"
VIEW_AUDIT_LOG = "customers.view_audit_log"
EXPORT_AUDIT_LOG = "customers.export_audit_log"
VIEW_CREDIT_USAGE = "customers.view_credit_usage"
SYNC_CUSTOMERS = "customers.sync_customers"
VIEW_COMPLIANCE_CASES = "customers.view_compliance_cases"
WORK_COMPLIANCE_CASES = "customers.work_compliance_cases"

# (codename, description) declared on the permission-holder model.
CUSTOM_PERMISSIONS = [
    ("view_customers", "Can view Tatum customers"),
    ("edit_customers", "Can edit Tatum customers"),
    ("change_customer_state", "Can activate, deactivate, enable and disable Tatum customers"),
    ("change_account_state", "Can activate, deactivate, freeze and unfreeze customers' accounts"),
    ("export_customers", "Can export Tatum customers to CSV"),
    ("view_audit_log", "Can view the whole audit log"),
    ("export_audit_log", "Can export the audit log to CSV"),
    ("view_credit_usage", "Can see Tatum credit usage"),
    ("sync_customers", "Can start a sync of the customer index"),
    ("view_compliance_cases", "Can view the compliance review queue"),
    ("work_compliance_cases", "Can open, claim, note and close compliance cases"),
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "Support": ["view_customers", "edit_customers", "change_customer_state", "change_account_state"],
    "Compliance": [
        "view_customers",
        "view_audit_log",
        "export_audit_log",
        "view_compliance_cases",
        "work_compliance_cases",
    ],
    "Manager": [
        "view_customers",
        "export_customers",
        "view_audit_log",
        "export_audit_log",
        "view_credit_usage",
        "sync_customers",
        "view_compliance_cases",
    ],
}
