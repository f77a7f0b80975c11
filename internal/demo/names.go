package demo

import "github.com/moments-cs/moments/internal/vocab"

// Word lists for invented company and people names. Changing them changes
// every seed's data, so only append.

var companyFirst = []string{
	"Acme", "Alder", "Amber", "Apex", "Arbor", "Atlas", "Aurora", "Beacon", "Birch", "Blue Harbor",
	"Bright", "Canyon", "Cedar", "Cinder", "Clear", "Cobalt", "Copper", "Coral", "Crest", "Delta",
	"Ember", "Evergreen", "Falcon", "Fern", "Fjord", "Granite", "Harbor", "Hazel", "Helix", "Horizon",
	"Indigo", "Iron", "Juniper", "Keystone", "Lakeside", "Lantern", "Linden", "Lumen", "Maple", "Meridian",
	"Mesa", "Monarch", "North", "Nova", "Oak", "Orbit", "Pacific", "Peak", "Pine", "Polar",
	"Prairie", "Quartz", "Redwood", "Ridge", "River", "Sage", "Silver", "Sparrow", "Spruce", "Stone",
	"Summit", "Sun", "Tandem", "Tidal", "Timber", "True", "Vale", "Vertex", "Willow", "Zephyr",
}

var companySecond = []string{
	"Analytics", "Apparel", "Bank", "Bio", "Brands", "Capital", "Clinics", "Cloud", "Consulting", "Dental",
	"Energy", "Engineering", "Farms", "Fitness", "Foods", "Freight", "Games", "Health", "Homes", "Hotels",
	"Insurance", "Labs", "Learning", "Legal", "Logistics", "Markets", "Media", "Medical", "Mobility", "Motors",
	"Outdoors", "Partners", "Pharma", "Realty", "Retail", "Robotics", "Security", "Software", "Solar", "Studios",
	"Supply", "Systems", "Telecom", "Textiles", "Travel", "Ventures", "Water", "Wellness", "Wines", "Works",
}

var firstNames = []string{
	"Aaliyah", "Adam", "Aisha", "Alex", "Amara", "Ana", "Andre", "Anika", "Ben", "Bianca",
	"Carlos", "Chen", "Chloe", "Daniel", "Dara", "David", "Elena", "Elif", "Emma", "Ethan",
	"Fatima", "Felix", "Grace", "Hana", "Hugo", "Imani", "Isaac", "Ivy", "Jamal", "Jana",
	"Javier", "Jin", "Julia", "Kai", "Kenji", "Lara", "Leah", "Leo", "Lina", "Lucas",
	"Maya", "Mei", "Mia", "Mohammed", "Nadia", "Nia", "Noah", "Olivia", "Omar", "Paula",
	"Priya", "Rafael", "Rosa", "Ryan", "Sara", "Sean", "Sofia", "Tariq", "Tessa", "Theo",
	"Uma", "Victor", "Wei", "Yara", "Yusuf", "Zara", "Zoe", "Marta", "Lukas", "Ines",
}

var lastNames = []string{
	"Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Bianchi", "Brown", "Carter", "Chen", "Costa",
	"Dubois", "Eriksen", "Fischer", "Garcia", "Gupta", "Haddad", "Hansen", "Hernandez", "Ito", "Jansen",
	"Kim", "Kowalski", "Lee", "Lopez", "Martin", "Meyer", "Moreau", "Murphy", "Nakamura", "Nguyen",
	"Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rahman", "Reyes", "Rossi", "Santos",
	"Schmidt", "Silva", "Singh", "Smith", "Sato", "Tanaka", "Taylor", "Torres", "Varga", "Wagner",
	"Walker", "Wang", "Weber", "Williams", "Wilson", "Yilmaz", "Young", "Zhang", "Ziegler", "Ortiz",
}

// csms are Northwind's customer success managers, the accounts' owners.
var csms = []string{
	"maya.chen@northwind.example",
	"jonas.weber@northwind.example",
	"priya.raman@northwind.example",
	"diego.alvarez@northwind.example",
	"sofia.rossi@northwind.example",
	"sam.okafor@northwind.example",
}

// ownersBySegment says which CSMs carry which segment: the senior CSMs
// the enterprise book, a pooled team the small accounts.
var ownersBySegment = map[string][]int{
	SegmentEnterprise: {0, 1},
	SegmentMidMarket:  {2, 3, 4},
	SegmentSMB:        {3, 4, 5},
}

var titles = map[string][]string{
	vocab.RoleSponsor:  {"VP Operations", "CFO", "Head of Finance", "COO", "VP Revenue", "Director of Analytics"},
	vocab.RoleChampion: {"Analytics Lead", "Head of BI", "Revenue Operations Manager", "Data Team Lead", "Finance Manager"},
	vocab.RoleAdmin:    {"IT Administrator", "Data Engineer", "Systems Manager", "Operations Analyst"},
	vocab.RoleUser:     {"Analyst", "Account Manager", "Controller", "Marketing Manager", "Sales Manager", "Operations Manager", "Planner"},
}

var integrations = []string{"salesforce", "hubspot", "snowflake", "bigquery", "postgres", "stripe", "google_sheets", "zendesk", "netsuite", "shopify"}

var features = []string{"alerts", "sql_editor", "scheduled_exports", "embedding", "ai_summary", "forecasting", "row_level_security", "annotations"}

var reportTemplates = []string{"revenue", "pipeline", "churn", "cohorts", "marketing_funnel", "inventory", "cash_flow", "support_sla", "custom"}

var ticketCategories = []string{"how_to", "data_sync", "permissions", "performance", "billing", "bug", "sso"}

var churnReasons = []string{"budget_cut", "switched_to_competitor", "not_enough_value", "sponsor_left", "poor_support_experience", "merged_with_another_company"}
