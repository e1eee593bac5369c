package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/shop"
)

// dlq inspects and redrives the choreography's dead-letter stream.
func (a *app) dlq(ctx context.Context, args []string) error {
	const usageArgs = "list [--limit N] [--json] | redrive [ID…] [--json]"
	fs := a.flags("dlq", usageArgs, "Inspect the choreography's dead-letter stream (list), or put entries back on the\n"+
		"stream they came from once the cause is fixed (redrive; all entries when no ID is given)")
	asJSON := fs.Bool("json", false, "print one JSON document on stdout")
	limit := fs.Int64("limit", 100, "list: show at most this many entries (0 = all)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("dlq needs a subcommand: list or redrive")
	}
	sub, ids := pos[0], pos[1:]
	switch sub {
	case "list":
		if len(ids) > 0 {
			return usagef("dlq list takes no arguments, got %q", ids[0])
		}
	case "redrive":
	default:
		return usagef("unknown dlq subcommand %q (want list or redrive)", sub)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	eng, err := a.open(ctx, []shop.Mode{shop.ModeChoreography})
	if err != nil {
		return err
	}
	defer eng.close()
	bus := choreography.NewBus(eng.rdb, choreography.WithPartitions(a.cfg.Partitions))

	if sub == "list" {
		dl, err := bus.DeadLetters(ctx, *limit)
		if err != nil {
			return err
		}
		total, err := bus.DeadLetterCount(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return a.printJSON(map[string]any{"total": total, "entries": nonNilDL(dl)})
		}
		fmt.Fprintf(a.stdout, "%d dead-lettered entries in %s\n", total, bus.DeadLetterStreams())
		if len(dl) == 0 {
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tWHEN\tFROM\tGROUP\tTYPE\tDELIVERIES\tREASON\t")
		for _, d := range dl {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", d.ID, d.Time.Local().Format("15:04:05"), d.Stream, d.Group,
				dash(d.Type), d.Deliveries, truncate(d.Reason, 80))
		}
		return tw.Flush()
	}
	for _, id := range ids {
		if !validStreamID(id) {
			return usagef("%q is not a stream entry ID (like 1700000000000-0)", id)
		}
	}
	done, err := bus.Redrive(ctx, ids...)
	if *asJSON {
		if jerr := a.printJSON(map[string]any{"redriven": nonNilDL(done)}); jerr != nil {
			return jerr
		}
	} else {
		for _, d := range done {
			fmt.Fprintf(a.stdout, "redrove %s (%s) back to %s\n", d.ID, dash(d.Type), d.Stream)
		}
		fmt.Fprintf(a.stdout, "%d entries redriven\n", len(done))
	}
	return err
}

func nonNilDL(d []choreography.DeadLetter) []choreography.DeadLetter {
	if d == nil {
		return []choreography.DeadLetter{}
	}
	return d
}

// validStreamID reports whether s looks like MS-SEQ.
func validStreamID(s string) bool {
	var ms, seq uint64
	n, err := fmt.Sscanf(s, "%d-%d", &ms, &seq)
	return err == nil && n == 2 && fmt.Sprintf("%d-%d", ms, seq) == s
}
