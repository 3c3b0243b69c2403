package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/urfave/cli/v3"
)

// healthProbeCommand asks a running gateway whether it is ready: the container
// image's HEALTHCHECK, which has no curl or wget to do it.
func healthProbeCommand() *cli.Command {
	return &cli.Command{
		Name:      "probe",
		Usage:     "exit 0 when a gateway's health URL answers 2xx (a container HEALTHCHECK), else 1 with why",
		ArgsUsage: "[URL]",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second, Usage: "how long to wait for the answer"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			target := "http://127.0.0.1:8000/readyz"
			if cmd.NArg() > 1 {
				return usageError("probe takes one URL, got %d arguments", cmd.NArg())
			}
			if cmd.NArg() == 1 {
				target = cmd.Args().First()
			}
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usageError("probe: %q is not an http(s) URL; e.g. http://127.0.0.1:8000/readyz", target)
			}
			if cmd.Duration("timeout") <= 0 {
				return usageError("--timeout must be positive")
			}
			ctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return cli.Exit(fmt.Errorf("probe %s: %w", u.Redacted(), err), 1)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return cli.Exit(fmt.Errorf("probe %s: %w", u.Redacted(), err), 1)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return cli.Exit(fmt.Errorf("probe %s: %s", u.Redacted(), resp.Status), 1)
			}
			fmt.Fprintf(cmd.Root().Writer, "%s: %s\n", u.Redacted(), resp.Status)
			return nil
		},
	}
}
