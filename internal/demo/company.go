package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/vocab"
)

// Persona is the story an account follows, taken from the seed documents.
type Persona string

// The personas. Each maps to a health quadrant and an outcome the engine
// should be able to find again from the events alone.
const (
	// Adopter follows the happy path: quick onboarding, steady use, good
	// answers; renews, and some expand.
	Adopter Persona = "adopter"
	// SlowOnboarder barely starts until a CSM steps in (an onboarding
	// session), then recovers and renews.
	SlowOnboarder Persona = "slow_onboarder"
	// Captive is the cable-company case: behaviourally a great customer,
	// emotionally a detractor. Half of them leave at renewal.
	Captive Persona = "captive"
	// DormantFan is the music-service case: loves the product, forgets to
	// use it. Most renew, some drift away.
	DormantFan Persona = "dormant_fan"
	// SponsorChange loses its executive sponsor mid-contract. When the CSM
	// meets the new sponsor in time it renews; otherwise usage fades and it
	// churns.
	SponsorChange Persona = "sponsor_change"
	// SupportHeavy opens many tickets, gets good help and renews: support
	// contact as a success signal.
	SupportHeavy Persona = "support_heavy"
	// Churner never gets value: weak onboarding, fading use, escalations,
	// detractor answers; churns at renewal.
	Churner Persona = "churner"
)

// Personas lists every persona in a fixed order.
var Personas = []Persona{Adopter, SlowOnboarder, Captive, DormantFan, SponsorChange, SupportHeavy, Churner}

// personaShare is each persona's share of the accounts (percent).
var personaShare = map[Persona]int{
	Adopter: 28, SlowOnboarder: 14, Captive: 12, DormantFan: 12, SponsorChange: 10, SupportHeavy: 12, Churner: 12,
}

// Segments.
const (
	SegmentSMB        = "smb"
	SegmentMidMarket  = "mid_market"
	SegmentEnterprise = "enterprise"
)

// Outcomes recorded as the account trait "outcome".
const (
	OutcomeRenewed  = "renewed"
	OutcomeExpanded = "expanded"
	OutcomeChurned  = "churned"
)

// Company is the invented vendor's customer base.
type Company struct {
	Config   Config
	Accounts []*Account
}

// Account is one customer company and the plan of its story.
type Account struct {
	Index   int
	ID      string
	Name    string
	Domain  string
	Segment string
	Plan    string
	ARR     int
	Seats   int
	Owner   string
	Persona Persona
	// Employees is the company's size, a trait some conditions use.
	Employees int
	// TZ is the account's UTC offset in hours; people work 8:00–18:00 local.
	TZ int
	// ContractStart is when the first contract was signed.
	ContractStart time.Time
	Contacts      []*Contact

	// The story, decided up front so that the history follows it.
	// OnboardDays is how long onboarding takes.
	OnboardDays int
	// Intervention is when the CSM stepped in (slow onboarders).
	Intervention time.Time
	// SponsorLeft is when the sponsor left (sponsor change); SponsorHandled
	// says whether the CSM met the new sponsor in time.
	SponsorLeft    time.Time
	SponsorHandled bool
	// WillChurn and WillExpand are the fate at the renewals inside the
	// history.
	WillChurn  bool
	WillExpand bool
	// Base is the account's engagement once onboarded (0–1).
	Base float64
}

// Contact is a person at an account.
type Contact struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
	Title     string
	Role      string
	// Propensity is how likely the person is to use the product on a
	// working day when the account is fully engaged.
	Propensity float64
	// Joined is when the person was invited (zero: at contract start).
	Joined time.Time
	// Replaces names the contact this one replaces (a new sponsor).
	Replaces string
}

// NewCompany invents the customer base for cfg (which it validates).
func NewCompany(cfg Config) (*Company, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Company{Config: cfg}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6e6f72746877696e)) // "northwin"
	personas := personaDeck(rng, cfg.Accounts)
	names := map[string]bool{}
	for i := range cfg.Accounts {
		name := uniqueName(rng, names)
		a := newAccount(cfg, i, name, personas[i])
		c.Accounts = append(c.Accounts, a)
	}
	return c, nil
}

// personaDeck deals personas by their shares, every persona at least once
// when there are enough accounts, in a seeded order.
func personaDeck(rng *rand.Rand, n int) []Persona {
	deck := make([]Persona, 0, n)
	for _, p := range Personas {
		k := int(math.Round(float64(n) * float64(personaShare[p]) / 100))
		if k == 0 && n >= len(Personas) {
			k = 1
		}
		for range k {
			deck = append(deck, p)
		}
	}
	for len(deck) < n {
		deck = append(deck, Adopter)
	}
	rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
	if len(deck) > n {
		// Rounding dealt too many: drop from the end of the shuffled deck,
		// keeping at least one of each persona.
		deck = trimDeck(deck, n)
	}
	return deck
}

func trimDeck(deck []Persona, n int) []Persona {
	count := map[Persona]int{}
	for _, p := range deck {
		count[p]++
	}
	for i := len(deck) - 1; i >= 0 && len(deck) > n; i-- {
		if count[deck[i]] > 1 {
			count[deck[i]]--
			deck = append(deck[:i], deck[i+1:]...)
		}
	}
	return deck[:n]
}

func uniqueName(rng *rand.Rand, taken map[string]bool) string {
	for attempt := 0; ; attempt++ {
		name := pick(rng, companyFirst) + " " + pick(rng, companySecond)
		if attempt > 50 {
			name += fmt.Sprintf(" %d", attempt)
		}
		if !taken[name] {
			taken[name] = true
			return name
		}
	}
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// between returns a uniform float in [lo, hi).
func between(rng *rand.Rand, lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) }

// intBetween returns a uniform int in [lo, hi].
func intBetween(rng *rand.Rand, lo, hi int) int { return lo + rng.IntN(hi-lo+1) }

func chance(rng *rand.Rand, p float64) bool { return rng.Float64() < p }

func days(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

func newAccount(cfg Config, i int, name string, p Persona) *Account {
	// Each account draws from its own stream, so accounts are independent
	// of each other and of the order they are generated in.
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1))
	a := &Account{Index: i, ID: fmt.Sprintf("acct_%04d", i+1), Name: name, Persona: p}
	a.Domain = strings.ToLower(strings.NewReplacer(" ", "", "'", "").Replace(name)) + ".example"

	switch r := rng.Float64(); {
	case r < 0.55:
		a.Segment = SegmentSMB
	case r < 0.85:
		a.Segment = SegmentMidMarket
	default:
		a.Segment = SegmentEnterprise
	}
	var users int
	switch a.Segment {
	case SegmentSMB:
		a.Plan = pick(rng, []string{"starter", "team", "team"})
		users = intBetween(rng, 3, 6)
		a.Employees = intBetween(rng, 10, 120)
		if a.Plan == "starter" {
			a.ARR = 100 * intBetween(rng, 30, 80)
		} else {
			a.ARR = 500 * intBetween(rng, 16, 40)
		}
	case SegmentMidMarket:
		a.Plan = "business"
		users = intBetween(rng, 7, 14)
		a.Employees = intBetween(rng, 150, 900)
		a.ARR = 1000 * intBetween(rng, 25, 90)
	default:
		a.Plan = "enterprise"
		users = intBetween(rng, 18, 32)
		a.Employees = intBetween(rng, 1200, 20000)
		a.ARR = 5000 * intBetween(rng, 20, 80)
	}
	// Licensed seats a little above the people who use the product.
	a.Seats = users + intBetween(rng, 1, max(2, users/4))
	owners := ownersBySegment[a.Segment]
	a.Owner = csms[owners[rng.IntN(len(owners))]]
	a.TZ = pick(rng, []int{-8, -5, -5, 0, 1, 1, 2})

	// Customers signed at any time from well before the history to two
	// weeks before its end, more of them recently (the company grows).
	span := float64(cfg.Months)*30.4 + 540
	ago := 14 + span*math.Pow(rng.Float64(), 1.3)
	a.ContractStart = dayAt(cfg.End.Add(-days(ago)), a.TZ, 10, 0)

	a.OnboardDays = intBetween(rng, 30, 45)
	a.Base = between(rng, 0.75, 0.95)
	switch p {
	case SlowOnboarder:
		a.OnboardDays = intBetween(rng, 60, 80)
		a.Intervention = dayAt(a.ContractStart.Add(days(between(rng, 28, 45))), a.TZ, 11, 0)
		a.Base = between(rng, 0.65, 0.85)
	case Captive:
		a.Base = between(rng, 0.85, 1)
	case DormantFan:
		a.Base = between(rng, 0.06, 0.16)
		a.WillChurn = chance(rng, 0.3)
	case SupportHeavy:
		a.Base = between(rng, 0.7, 0.9)
		a.WillExpand = chance(rng, 0.3)
	case Churner:
		a.OnboardDays = intBetween(rng, 70, 100)
		a.Base = between(rng, 0.35, 0.55)
		a.WillChurn = true
	case Adopter:
		a.WillExpand = chance(rng, 0.45)
	case SponsorChange:
		a.SponsorHandled = chance(rng, 0.5)
		a.WillChurn = !a.SponsorHandled
	}
	if p == Captive {
		a.WillChurn = chance(rng, 0.5)
	}
	if a.WillChurn || p == SponsorChange {
		// Place the renewal that decides the story where it can be seen:
		// mostly inside the history (the churn happened), otherwise in the
		// next four months (the churn is coming, and the cockpit should
		// show it).
		years := 1
		if p != Churner && chance(rng, 0.4) {
			years = 2
		}
		window := float64(cfg.Months)*30.4 - 60
		var fateAgo float64
		if window > 7 && chance(rng, 0.6) {
			fateAgo = between(rng, 7, window)
		} else {
			fateAgo = -between(rng, 15, 120)
		}
		ago = fateAgo + 365.25*float64(years)
		a.ContractStart = dayAt(cfg.End.Add(-days(ago)), a.TZ, 10, 0)
	}
	a.Contacts = newContacts(rng, a, users)
	return a
}

// newContacts invents the people: a sponsor, a champion, one or two admins
// and users with a mix of habits.
func newContacts(rng *rand.Rand, a *Account, n int) []*Contact {
	roles := []string{vocab.RoleSponsor, vocab.RoleChampion, vocab.RoleAdmin}
	if a.Segment == SegmentEnterprise {
		roles = append(roles, vocab.RoleAdmin)
	}
	for len(roles) < n {
		roles = append(roles, vocab.RoleUser)
	}
	used := map[string]bool{}
	var out []*Contact
	for i, role := range roles {
		c := &Contact{ID: fmt.Sprintf("%s_u%02d", a.ID, i+1), Role: role}
		for {
			c.FirstName, c.LastName = pick(rng, firstNames), pick(rng, lastNames)
			if !used[c.FirstName+c.LastName] {
				used[c.FirstName+c.LastName] = true
				break
			}
		}
		c.Email = strings.ToLower(c.FirstName+"."+c.LastName) + "@" + a.Domain
		c.Title = pick(rng, titles[role])
		switch role {
		case vocab.RoleSponsor:
			c.Propensity = 0.08
		case vocab.RoleChampion:
			c.Propensity = between(rng, 0.55, 0.75)
		case vocab.RoleAdmin:
			c.Propensity = between(rng, 0.45, 0.65)
		default:
			switch r := rng.Float64(); {
			case r < 0.25:
				c.Propensity = between(rng, 0.45, 0.6) // power users
			case r < 0.7:
				c.Propensity = between(rng, 0.22, 0.35)
			default:
				c.Propensity = between(rng, 0.06, 0.14) // occasional
			}
		}
		out = append(out, c)
	}
	return out
}

// dayAt returns the UTC instant of hh:mm local time (offset tz hours) on
// the local day of t.
func dayAt(t time.Time, tz, hh, mm int) time.Time {
	local := t.Add(time.Duration(tz) * time.Hour)
	d := time.Date(local.Year(), local.Month(), local.Day(), hh, mm, 0, 0, time.UTC)
	return d.Add(-time.Duration(tz) * time.Hour)
}

func lower(s string) string { return strings.ToLower(s) }
