package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"secure-mcp-gateway/internal/config"
	"secure-mcp-gateway/proxy"
)

// timeoutsCommand reports the configured timeout budgets. Live metrics
// (totals, timeouts, operations in flight) belong to a running session and
// are not visible from another process; the help says where to get them.
func timeoutsCommand() *cli.Command {
	return &cli.Command{
		Name:  "timeouts",
		Usage: "show the timeout budget of each operation kind and the escalation thresholds",
		Description: "Prints, for each operation kind (default, guardrail, auth, tool_execution, discovery, cache,\n" +
			"connectivity), the budget the gateway applies, whether it comes from timeout_settings or the default,\n" +
			"and the elapsed times at which an operation is labelled warn, timeout and fail in the logs.\n\n" +
			"This command reads the config file only. Live metrics (totals, successes, timeouts, cancellations,\n" +
			"escalation counts, operations in flight) live in a running gateway session: call the\n" +
			"enkrypt_get_timeout_metrics tool (with \"tool_exposure\": \"meta\") from the MCP client, or read the\n" +
			"\"operation escalated\" lines of the gateway's log.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: timeoutsShow,
	}
}

// timeoutRow is one operation kind in `timeouts`.
type timeoutRow struct {
	Kind    string  `json:"kind"`
	Key     string  `json:"config_key"`
	Seconds float64 `json:"seconds"`
	Source  string  `json:"source"` // "config" or "default"
	WarnAt  float64 `json:"warn_at_seconds"`
	Timeout float64 `json:"timeout_at_seconds"`
	FailAt  float64 `json:"fail_at_seconds"`
}

func timeoutsShow(_ context.Context, cmd *cli.Command) error {
	path, err := configPath(cmd)
	if err != nil {
		return cli.Exit(err, exitConfig)
	}
	cfg, err := config.Load(path, checkDetectors)
	if err != nil {
		return cli.Exit(err, exitConfig)
	}
	t := cfg.Common.Timeouts
	b := proxy.BudgetsFromConfig(t)
	set := map[string]float64{
		proxy.KindDefault: t.Default, proxy.KindGuardrail: t.Guardrail, proxy.KindAuth: t.Auth,
		proxy.KindToolExecution: t.ToolExecution, proxy.KindDiscovery: t.Discovery, proxy.KindCache: t.Cache,
		proxy.KindConnectivity: t.Connectivity,
	}
	warn, timeout, fail := ratio(t.Escalation.Warn, proxy.DefaultWarnRatio), ratio(t.Escalation.Timeout, proxy.DefaultTimeoutRatio), ratio(t.Escalation.Fail, proxy.DefaultFailRatio)
	rows := make([]timeoutRow, 0, len(proxy.Kinds))
	for _, k := range proxy.Kinds {
		s := b.Budget(k).Seconds()
		src := "default"
		if set[k] > 0 {
			src = "config"
		}
		rows = append(rows, timeoutRow{Kind: k, Key: k + "_timeout", Seconds: s, Source: src,
			WarnAt: s * warn, Timeout: s * timeout, FailAt: s * fail})
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"config":              path,
			"timeouts":            rows,
			"escalation_policies": map[string]float64{"warn_threshold": warn, "timeout_threshold": timeout, "fail_threshold": fail},
			"live_metrics":        "available in a running session through the enkrypt_get_timeout_metrics tool",
		})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tBUDGET\tSOURCE\tWARN AT\tTIMEOUT AT\tFAIL AT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Kind, secs(r.Seconds), r.Source, secs(r.WarnAt), secs(r.Timeout), secs(r.FailAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nEscalation thresholds: warn %.2g, timeout %.2g, fail %.2g of the budget (timeout_settings.escalation_policies).\n", warn, timeout, fail)
	fmt.Fprintln(w, "Live metrics belong to a running session: call enkrypt_get_timeout_metrics from the MCP client (tool_exposure \"meta\").")
	return nil
}

func ratio(v, def float64) float64 {
	if v <= 0 {
		return def
	}
	return v
}

func secs(s float64) string { return time.Duration(s * float64(time.Second)).String() }
