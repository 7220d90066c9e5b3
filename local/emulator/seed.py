"""Seed data for the emulator: `demo` (a small realistic workspace) and `empty`.

Both seeds create the "TIME" tag group (SINGLE) with Tolerate, Invest, Migrate, Eliminate; the
admin technical user is created by `Emulator.reset` before the seed runs. The demo data comes
from a fixed random seed, so names and fit values are the same on every start (ids are not).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from local.emulator.state import FUNCTIONAL_SUITABILITY, TECHNICAL_SUITABILITY

if TYPE_CHECKING:
    from local.emulator.state import Emulator

SEEDS = ("demo", "empty")
TIME_TAGS = ("Tolerate", "Invest", "Migrate", "Eliminate")

DEMO_APPLICATIONS = (
    "SAP S/4HANA Finance",
    "SAP S/4HANA Procurement",
    "SAP SuccessFactors Employee Central",
    "SAP Ariba Sourcing",
    "SAP Concur Travel",
    "SAP BW/4HANA",
    "Salesforce Sales Cloud",
    "Salesforce Service Cloud",
    "Salesforce Marketing Cloud",
    "Microsoft Dynamics 365 Sales",
    "Microsoft SharePoint Online",
    "Microsoft Teams",
    "Microsoft Power BI",
    "Workday HCM",
    "ServiceNow ITSM",
    "ServiceNow HR Service Delivery",
    "Atlassian Jira",
    "Atlassian Confluence",
    "GitHub Enterprise",
    "Slack",
    "Zoom",
    "DocuSign eSignature",
    "Adobe Experience Manager",
    "Adobe Analytics",
    "Oracle E-Business Suite",
    "Oracle Hyperion Planning",
    "Coupa Procurement",
    "Zendesk Support",
    "HubSpot Marketing Hub",
    "Tableau Server",
    "Snowflake Data Cloud",
    "Databricks Lakehouse",
    "Kronos Workforce Central",
    "ADP Payroll",
    "Ivalua Supplier Portal",
    "Legacy Order Entry (AS/400)",
    "Customer Portal",
    "Partner Portal",
    "Mobile Sales App",
    "Warehouse Management System",
    "Transport Management System",
    "Product Information Management",
    "Master Data Governance",
    "Treasury Management",
    "Billing Engine",
    "Pricing Calculator",
    "Fleet Management",
    "Document Archive",
    "Contract Lifecycle Management",
    "Identity and Access Management",
)
DEMO_IT_COMPONENTS = (
    ("SAP HANA 2.0", "software"),
    ("Oracle Database 19c", "software"),
    ("PostgreSQL 15", "software"),
    ("Microsoft SQL Server 2019", "software"),
    ("Red Hat Enterprise Linux 8", "software"),
    ("Windows Server 2022", "software"),
    ("Azure Kubernetes Service", "saas"),
    ("AWS Lambda", "saas"),
    ("IBM Power Systems", "hardware"),
    ("Apache Kafka", "software"),
)
DEMO_CAPABILITIES = (
    "Finance",
    "Procurement",
    "Human Resources",
    "Sales",
    "Customer Service",
    "Marketing",
    "Supply Chain",
    "IT Management",
    "Analytics",
    "Collaboration",
)


def apply_seed(emulator: Emulator, seed: str) -> None:
    """Load `seed` into the emulator's (freshly reset) workspace; unknown seeds raise `ValueError`."""
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r}; choose one of {', '.join(SEEDS)}")
    workspace = emulator.workspace
    group = workspace.create_tag_group(
        "TIME",
        mode="SINGLE",
        short_name="TIME",
        description="Gartner TIME classification",
        restrict_to_fact_sheet_types=["Application"],
    )
    colors = {"Tolerate": "#f9a825", "Invest": "#2e7d32", "Migrate": "#1565c0", "Eliminate": "#c62828"}
    for name in TIME_TAGS:
        workspace.create_tag(name, tag_group_id=group.id, color=colors[name])
    if seed == "demo":
        _seed_demo(emulator)


def _seed_demo(emulator: Emulator) -> None:
    rng = random.Random(emulator.config.random_seed)
    workspace = emulator.workspace
    user = emulator.admin.id
    capabilities = [
        workspace.create_fact_sheet("BusinessCapability", name, user_id=user).id for name in DEMO_CAPABILITIES
    ]
    components = [
        workspace.create_fact_sheet("ITComponent", name, fields={"category": category}, user_id=user).id
        for name, category in DEMO_IT_COMPONENTS
    ]
    cloud = workspace.create_tag_group("Hosting", mode="MULTIPLE")
    hosting_tags = [workspace.create_tag(name, tag_group_id=cloud.id).id for name in ("Cloud", "On-Premise")]
    for index, name in enumerate(DEMO_APPLICATIONS):
        fields: dict[str, object] = {"description": f"{name} (demo data)"}
        # Roughly one in six applications lacks each fit value, so rules see incomplete data too.
        if rng.random() > 0.17:
            fields["functionalSuitability"] = rng.choice(FUNCTIONAL_SUITABILITY)
        if rng.random() > 0.17:
            fields["technicalSuitability"] = rng.choice(TECHNICAL_SUITABILITY)
        fields["lifecycle"] = {
            "phases": [
                {"phase": "plan", "startDate": f"20{10 + index % 10:02d}-01-01"},
                {"phase": "active", "startDate": f"20{12 + index % 10:02d}-06-01"},
            ]
        }
        app = workspace.create_fact_sheet(
            "Application",
            name,
            external_id=f"APP-{index + 1:04d}",
            fields=fields,
            tags=[rng.choice(hosting_tags)],
            user_id=user,
        )
        workspace.add_relation(
            app.id, "relApplicationToBusinessCapability", rng.choice(capabilities), user_id=user
        )
        for target in rng.sample(components, k=rng.randint(0, 2)):
            workspace.add_relation(app.id, "relApplicationToITComponent", target, user_id=user)
