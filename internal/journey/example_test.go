package journey_test

import (
	"fmt"
	"time"

	"github.com/moments-cs/moments/internal/journey"
)

func ExampleLint() {
	src := []byte(`version: 1
name: Small
stages: [{id: delivering, name: Delivering}]
teams: [{id: customer_success, name: Customer Success}]
moments:
  - id: kickoff
    name: Kickoff
    stage: delivering
    ownr: customer_success
    sla: 2 days
    trigger: {category: csm}
`)
	_, diags := journey.Lint("map.yaml", src)
	for _, d := range diags {
		fmt.Println(d)
	}
	fmt.Println("can apply:", !journey.HasErrors(diags))
	// Output:
	// map.yaml:9:5: unknown key "ownr" in moment; did you mean "owner"?
	// map.yaml:10:10: sla: "2 days" is not a duration; write it as 2d
	// can apply: false
}

func ExampleParseDuration() {
	d, err := journey.ParseDuration("2bd")
	if err != nil {
		panic(err)
	}
	friday := time.Date(2025, 3, 7, 16, 0, 0, 0, time.UTC)
	fmt.Println(d.Business, d.AddTo(friday).Format("Monday 2 January 15:04"))
	// Output: true Tuesday 11 March 16:00
}

func ExampleDiff() {
	old := &journey.Map{Moments: []journey.Moment{{ID: "kickoff", Name: "Kickoff", Stage: "committing", Owner: "sales", SLA: "5bd"}}}
	changed := old.Clone()
	changed.Moments[0].Owner = "customer_success"
	changed.Moments[0].SLA = "3bd"
	fmt.Print(journey.FormatChanges(journey.Diff(old, changed)))
	// Output: ~ moment "kickoff" (Kickoff): owner, sla changed
}
