// Package planted generates a customer base whose truth is known, for
// tests of how well health predicts churn and of the drivers report.
//
// Every account has a hidden risk (standard normal). Each signal sees that
// risk through its own noise: how intensely the seats use the product, how
// many of the segment's features they use, whether usage declines in the
// months before the outcome, whether the sponsor leaves, how many tickets
// escalate, what the sponsor and champion answer to NPS. Churn depends on
// the risk and on one planted trait (a month-to-month contract); the other
// traits (region, industry) are noise. A test that finds a planted driver,
// or a noise trait reported as significant, knows it.
package planted

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/health"
	"github.com/moments-cs/moments/internal/vocab"
)

// Config sizes the generated base.
type Config struct {
	Accounts int
	Seed     uint64
	// Days of history before End.
	Days int
	End  time.Time
	// TraitsOnly skips the events: a CRM export with a churn column.
	TraitsOnly bool
}

// DefaultConfig is 300 accounts with 270 days of history, as the issue's
// measurement used.
func DefaultConfig(seed uint64) Config {
	return Config{Accounts: 300, Seed: seed, Days: 270, End: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)}
}

// Segments and the features their accounts may use.
var Segments = map[string][]string{
	"smb":        {"Report Viewed", "Dashboard Viewed", "Invoice Sent", "Export Run", "Alert Set"},
	"mid-market": {"Report Viewed", "Dashboard Viewed", "Invoice Sent", "Export Run", "Alert Set", "Workflow Built", "Integration Synced"},
	"enterprise": {"Report Viewed", "Dashboard Viewed", "Invoice Sent", "Export Run", "Alert Set", "Workflow Built", "Integration Synced", "SSO Login", "Audit Exported"},
}

var segmentNames = []string{"smb", "mid-market", "enterprise"}

// Event names the generator sends besides feature use.
const (
	EventLogin = "Logged In"
)

// Account is one generated account with its events and its fate.
type Account struct {
	ID string
	// Risk is the hidden truth: higher means likelier to churn.
	Risk          float64
	Segment       string
	Contract      string // "Month-to-month" (a planted driver) or "Annual"
	Region        string // noise
	Industry      string // noise
	Seats         int
	ARR           float64
	ContractStart time.Time
	// Churned says whether the account churned, at ChurnAt (within the
	// last 120 days of the history); its events stop there.
	Churned bool
	ChurnAt time.Time
	// SponsorLeft is when the sponsor left, or zero.
	SponsorLeft time.Time
	Events      []health.Event
}

// Traits returns the account's traits as the CRM would send them, with
// lifecycle_stage "churned" for the churners.
func (a *Account) Traits() map[string]any {
	stage := "adoption"
	if a.Churned {
		stage = "churned"
	}
	return map[string]any{
		"id": a.ID, "name": a.ID, "segment": a.Segment, "contract": a.Contract, "region": a.Region,
		"industry": a.Industry, "seats": float64(a.Seats), "arr": a.ARR, "lifecycle_stage": stage,
		"contract_start": a.ContractStart.Format(time.DateOnly),
	}
}

// Info returns what health.Score needs about the account.
func (a *Account) Info() health.AccountInfo {
	return health.AccountInfo{Seats: a.Seats, ContractStart: a.ContractStart, PathProgress: health.ProgressUnknown}
}

// EventsBefore returns the events strictly before t.
func (a *Account) EventsBefore(t time.Time) []health.Event {
	i, _ := slices.BinarySearchFunc(a.Events, t, func(e health.Event, t time.Time) int { return e.Timestamp.Compare(t) })
	return a.Events[:i]
}

// Generate builds the base. The same config always gives the same base.
func Generate(cfg Config) []*Account {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x706c616e746564)) // "planted"
	start := cfg.End.AddDate(0, 0, -cfg.Days)
	out := make([]*Account, 0, cfg.Accounts)
	for i := range cfg.Accounts {
		a := &Account{ID: fmt.Sprintf("acct_%03d", i), Risk: rng.NormFloat64()}
		a.Segment = segmentNames[rng.IntN(len(segmentNames))]
		a.Contract = "Annual"
		if rng.Float64() < 0.3 {
			a.Contract = "Month-to-month"
		}
		a.Region = []string{"EMEA", "NA", "APAC"}[rng.IntN(3)]
		a.Industry = []string{"retail", "software", "finance", "health"}[rng.IntN(4)]
		a.Seats = int(min(max(math.Exp(math.Log(20)+0.7*rng.NormFloat64()), 3), 120))
		a.ARR = math.Round(float64(a.Seats) * 600 * math.Exp(0.3*rng.NormFloat64()))
		a.ContractStart = start.AddDate(0, 0, -rng.IntN(400))

		mtm := 0.0
		if a.Contract == "Month-to-month" {
			mtm = 1
		}
		a.Churned = rng.Float64() < sigmoid(-1.1+1.6*a.Risk+0.9*mtm)
		end := cfg.End
		if a.Churned {
			a.ChurnAt = cfg.End.Add(-time.Duration(1+rng.IntN(120)) * 24 * time.Hour)
			end = a.ChurnAt
		}
		if !cfg.TraitsOnly {
			g := generator{rng: rng, a: a, start: start, end: end}
			g.run()
		}
		slices.SortStableFunc(a.Events, func(x, y health.Event) int { return x.Timestamp.Compare(y.Timestamp) })
		out = append(out, a)
	}
	return out
}

type generator struct {
	rng        *rand.Rand
	a          *Account
	start, end time.Time
}

func (g *generator) run() {
	rng, a := g.rng, g.a
	r := a.Risk
	// Each signal sees the risk through its own noise.
	engagement := sigmoid(0.3 - 1.0*r + 0.8*rng.NormFloat64())
	features := Segments[a.Segment]
	k := 1 + int(math.Round(float64(len(features)-1)*sigmoid(0.4-1.0*r+0.9*rng.NormFloat64())))
	used := features[:k]
	decline := min(max(0.3*r+0.25*rng.NormFloat64()+0.1, 0), 0.85)
	// The decline starts 60 to 180 days before the outcome (for an account
	// that does not churn, before the end of the history).
	declineFrom := g.end.Add(-time.Duration(60+rng.IntN(120)) * 24 * time.Hour)
	ticketsPerMonth := math.Exp(0.1+0.5*r+0.5*rng.NormFloat64()) * math.Sqrt(float64(a.Seats)/25)
	escalate := sigmoid(-1.5 + 0.8*r + 0.5*rng.NormFloat64())
	nps := 7.5 - 1.3*r
	if rng.Float64() < sigmoid(-1.8+1.2*r+0.6*rng.NormFloat64()) {
		a.SponsorLeft = g.start.Add(time.Duration(rng.Int64N(int64(g.end.Sub(g.start)))))
	}
	meetEvery := 20 + 25*sigmoid(0.8*r+0.6*rng.NormFloat64())

	propensity := make([]float64, a.Seats)
	for u := range propensity {
		propensity[u] = 0.2 + 0.7*rng.Float64()
	}
	nextMeeting := g.start.Add(time.Duration(rng.Float64()*meetEvery*24) * time.Hour)
	sponsor, champion := a.ID+"_sponsor", a.ID+"_champion"
	for day := g.start; day.Before(g.end); day = day.AddDate(0, 0, 1) {
		m := engagement
		if day.After(declineFrom) {
			m *= 1 - decline*min(1, day.Sub(declineFrom).Hours()/24/90)
		}
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			m *= 0.1
		}
		for u, p := range propensity {
			if rng.Float64() < m*p*0.6 {
				at := day.Add(time.Duration(8*3600+rng.IntN(9*3600)) * time.Second)
				user := fmt.Sprintf("%s_u%02d", a.ID, u)
				g.add(health.Event{Name: EventLogin, Type: "track", UserID: user, ContactRole: "user", Timestamp: at})
				g.add(health.Event{Name: used[rng.IntN(len(used))], Type: "track", UserID: user, ContactRole: "user",
					Timestamp: at.Add(time.Duration(1+rng.IntN(1800)) * time.Second)})
			}
		}
		if rng.Float64() < ticketsPerMonth/30 {
			at := day.Add(10 * time.Hour)
			g.add(health.Event{Name: vocab.EventTicketOpened, Type: "track", UserID: a.ID + "_u00", Timestamp: at})
			if rng.Float64() < escalate {
				g.add(health.Event{Name: vocab.EventTicketEscalated, Type: "track", UserID: a.ID + "_u00", Timestamp: at.Add(26 * time.Hour)})
			}
		}
		sponsorHere := a.SponsorLeft.IsZero() || day.Before(a.SponsorLeft)
		if !day.Before(nextMeeting) {
			if sponsorHere {
				g.add(health.Event{Name: vocab.EventExecutiveMeetingHeld, Type: "track", UserID: sponsor, ContactRole: "sponsor", Timestamp: day.Add(15 * time.Hour)})
			}
			nextMeeting = day.Add(time.Duration(meetEvery*(0.6+0.8*rng.Float64())*24) * time.Hour)
		}
		if day.Day() == 1 && day.Month()%3 == 0 {
			for _, c := range []struct{ id, role string }{{sponsor, "sponsor"}, {champion, "champion"}} {
				if (c.role == "sponsor" && !sponsorHere) || rng.Float64() > 0.6 {
					continue
				}
				score := min(max(math.Round(nps+1.5*rng.NormFloat64()), 0), 10)
				g.add(health.Event{Name: vocab.EventSurveyResponded, Type: "track", UserID: c.id, ContactRole: c.role,
					Timestamp: day.Add(11 * time.Hour), Properties: map[string]any{"kind": "nps", "score": score}})
			}
		}
	}
}

func (g *generator) add(ev health.Event) {
	if ev.Timestamp.Before(g.end) {
		g.a.Events = append(g.a.Events, ev)
	}
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
