package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/audit"
	"secure-mcp-gateway/internal/config"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "verify and read the tamper-evident audit log (see docs/AUDIT.md)",
		Commands: []*cli.Command{
			{
				Name:      "verify",
				Usage:     "check the hash chain (and HMACs, with " + config.AuditHMACKeyEnv + ") of audit files; exits 1 naming file:line and the kind of tampering",
				ArgsUsage: "[FILE|DIR...]",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "allow-open", Usage: "accept files without a close record (a gateway still running); the tail of such a file is not protected"},
				},
				Action: auditVerify,
			},
			{
				Name:      "tail",
				Usage:     "print the last records of the audit log as JSON lines",
				ArgsUsage: "[FILE|DIR...]",
				Flags:     []cli.Flag{&cli.IntFlag{Name: "n", Value: 20, Usage: "how many records"}},
				Action:    auditTail,
			},
			{
				Name:      "query",
				Usage:     "print the records that match every given filter",
				ArgsUsage: "[FILE|DIR...]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "tool", Usage: "only this tool"},
					&cli.StringFlag{Name: "server", Usage: "only this server"},
					&cli.StringFlag{Name: "kind", Usage: "only this kind (tool_call, block, redaction, key_failure, ...)"},
					&cli.StringFlag{Name: "since", Usage: "only records at or after this time (RFC 3339, or a duration ago such as 1h)"},
					&cli.StringFlag{Name: "until", Usage: "only records before this time (RFC 3339, or a duration ago)"},
					&cli.BoolFlag{Name: "json", Usage: "print JSON lines instead of a table"},
				},
				Action: auditQuery,
			},
		},
	}
}

// auditPaths returns the arguments, or the configured audit directory.
func auditPaths(cmd *cli.Command) ([]string, error) {
	if cmd.Args().Len() > 0 {
		return cmd.Args().Slice(), nil
	}
	var a *config.Audit
	if path, err := configPath(cmd); err == nil {
		cfg, err := config.Load(path, checkDetectors)
		switch {
		case err == nil:
			a = cfg.Audit
		case !errors.Is(err, fs.ErrNotExist):
			return nil, cli.Exit(err, exitConfig)
		}
	}
	dir, err := a.Dir()
	if err != nil {
		return nil, cli.Exit(err, exitConfig)
	}
	return []string{dir}, nil
}

func auditVerify(_ context.Context, cmd *cli.Command) error {
	paths, err := auditPaths(cmd)
	if err != nil {
		return err
	}
	o := audit.VerifyOptions{AllowOpen: cmd.Bool("allow-open")}
	if k := os.Getenv(config.AuditHMACKeyEnv); k != "" {
		o.HMACKey = []byte(k)
	}
	res, err := audit.VerifyPaths(paths, o)
	if err != nil {
		return cli.Exit(err, exitUsage)
	}
	if len(res) == 0 {
		return cli.Exit(fmt.Errorf("no audit files in %s", strings.Join(paths, ", ")), exitUsage)
	}
	w := cmd.Root().Writer
	var bad int
	for _, r := range res {
		if len(r.Problems) == 0 {
			state := "closed"
			if !r.Closed {
				state = "open"
			}
			sig := "chained"
			if r.Signed {
				sig = "signed, not checked (set " + config.AuditHMACKeyEnv + ")"
				if o.HMACKey != nil {
					sig = "signed"
				}
			}
			fmt.Fprintf(w, "ok %s (%d records, %s, %s)\n", r.File, r.Records, state, sig)
			continue
		}
		bad++
		for _, p := range r.Problems {
			fmt.Fprintf(w, "FAIL %s\n", p)
		}
	}
	if bad > 0 {
		return cli.Exit(fmt.Errorf("%d of %d audit files failed verification", bad, len(res)), 1)
	}
	return nil
}

func auditTail(_ context.Context, cmd *cli.Command) error {
	paths, err := auditPaths(cmd)
	if err != nil {
		return err
	}
	files, err := audit.ListFiles(paths)
	if err != nil {
		return cli.Exit(err, exitUsage)
	}
	n := max(cmd.Int("n"), 0)
	var ring []audit.Record
	if err := audit.ReadRecords(files, func(_ string, r audit.Record) bool {
		ring = append(ring, r)
		if len(ring) > n {
			ring = ring[1:]
		}
		return true
	}); err != nil {
		return err
	}
	enc := json.NewEncoder(cmd.Root().Writer)
	for _, r := range ring {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

func auditQuery(_ context.Context, cmd *cli.Command) error {
	paths, err := auditPaths(cmd)
	if err != nil {
		return err
	}
	now := time.Now()
	since, err := audit.ParseWhen(cmd.String("since"), now)
	if err != nil {
		return cli.Exit(fmt.Errorf("--since: %w", err), exitUsage)
	}
	until, err := audit.ParseWhen(cmd.String("until"), now)
	if err != nil {
		return cli.Exit(fmt.Errorf("--until: %w", err), exitUsage)
	}
	files, err := audit.ListFiles(paths)
	if err != nil {
		return cli.Exit(err, exitUsage)
	}
	filter := audit.Filter{Tool: cmd.String("tool"), Server: cmd.String("server"), Kind: cmd.String("kind"), Since: since, Until: until}
	w := cmd.Root().Writer
	asJSON := cmd.Bool("json")
	enc := json.NewEncoder(w)
	if !asJSON {
		fmt.Fprintf(w, "%-30s %-13s %-16s %-24s %-8s %s\n", "TIME", "KIND", "SERVER", "TOOL", "VERDICT", "DETECTORS")
	}
	var werr error
	err = audit.ReadRecords(files, func(_ string, r audit.Record) bool {
		if !filter.Match(r) {
			return true
		}
		if asJSON {
			werr = enc.Encode(r)
		} else {
			_, werr = fmt.Fprintf(w, "%-30s %-13s %-16s %-24s %-8s %s\n", r.Time.Format(time.RFC3339Nano), r.Kind, r.Server, r.Tool, r.Verdict, strings.Join(r.Detectors, ","))
		}
		return werr == nil
	})
	if err != nil {
		return err
	}
	return werr
}
