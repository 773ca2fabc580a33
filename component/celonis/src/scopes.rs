//! The Celonis OAuth scope catalogue: (group, scope, description).

pub const CATALOGUE: &[(&str, &str, &str)] = &[
    (
        "Action engine",
        "action-engine.projects",
        "Access to projects based on granted permissions.",
    ),
    (
        "Audit",
        "audit.log:read",
        "Read-only access to audit logs based on granted permissions.",
    ),
    (
        "Authorization",
        "authorization.permissions:read",
        "Read permissions based on granted permissions.",
    ),
    (
        "Integration",
        "integration.data-models:read",
        "Read-only access to data models.",
    ),
    (
        "Integration",
        "integration.data-pools",
        "Access to data pools (content-cli, PyCelonis, Data Push API).",
    ),
    (
        "Integration",
        "integration.data-pools:continuous_data_push",
        "Continuously push data to data pools.",
    ),
    (
        "Integration",
        "integration.data-pools:data_push",
        "Push data to data pools (Data Push API).",
    ),
    (
        "Integration",
        "integration.data-pools:query",
        "Query data pools.",
    ),
    (
        "Integration",
        "integration.data-pools:read",
        "Read-only access to data pools.",
    ),
    (
        "Intelligence API",
        "intelligence.conversations:write",
        "Studio Process Copilot conversational API.",
    ),
    (
        "Intelligence API",
        "intelligence.knowledge-models:read",
        "Read-only access to knowledge models and their data, KPIs and metadata.",
    ),
    (
        "Intelligence API",
        "intelligence.subscriptions:manage",
        "Manage subscriptions to knowledge-model triggers.",
    ),
    (
        "Machine Learning",
        "machine-learning",
        "Machine Learning Workbench API.",
    ),
    (
        "MCP",
        "mcp-asset.tools:execute",
        "Execute MCP Server Asset Tools.",
    ),
    ("On-prem clients", "on-prem-client", "On-premise client."),
    (
        "Orchestration Engine",
        "orchestration-engine",
        "Process Orchestration and Forms.",
    ),
    ("Package manager", "package-manager", "Package manager."),
    (
        "Platform adoption",
        "platform-adoption.tracking-events:read",
        "Read-only access to platform-adoption tracking events.",
    ),
    (
        "Storage manager",
        "storage-manager.buckets",
        "SFTP Storage Manager API.",
    ),
    (
        "Studio",
        "knowledge-models.augmented-attributes:update",
        "Update Augmented Attributes data.",
    ),
    (
        "Studio",
        "knowledge-models:query",
        "Run queries on a Knowledge Model.",
    ),
    (
        "Studio",
        "knowledge-models:read",
        "Read-only access to Knowledge Models.",
    ),
    ("Studio", "skills:execute", "Execute Skills."),
    ("Studio", "skills:read", "Read Skills data."),
    ("Studio", "studio", "Access to Studio."),
    (
        "Studio",
        "studio.packages:read",
        "Read-only access to Studio packages.",
    ),
    ("Studio", "tasks:read", "Read Tasks data."),
    ("Studio", "tasks:update", "Update Tasks data."),
    (
        "Studio",
        "triggers:manage",
        "Manage trigger subscriptions to data changes.",
    ),
    ("Studio", "triggers:read", "Read-only access to triggers."),
    (
        "Task Mining",
        "task-mining.clients:suspend",
        "Suspend data capturing of Task Mining clients.",
    ),
    (
        "Task Mining",
        "task-mining.gateway",
        "Task Mining Gateway integration API.",
    ),
    (
        "Task Mining",
        "task-mining.metadata:read",
        "Read-only access to Task Mining user metadata.",
    ),
    (
        "Team",
        "team.user-group-info:read",
        "Read-only access to team user and group information.",
    ),
    (
        "Team",
        "team.login-history:read",
        "Read-only access to team login history.",
    ),
];

pub fn is_known(scope: &str) -> bool {
    CATALOGUE.iter().any(|(_, name, _)| *name == scope)
}
