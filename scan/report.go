package scan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes r as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// WriteTable writes r for a person: the servers and what they listed,
// then one row per finding (client, server, tool, severity, rule, field,
// excerpt).
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tTARGET\tSTATUS\tTOOLS\tPROMPTS\tTEMPLATES")
	for _, c := range r.Configs {
		if c.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t%s\terror: %s\t\t\t\n", c.Client, c.Path, oneLine(c.Error, 100))
		}
	}
	for _, s := range r.Servers {
		status := s.Status
		if s.Error != "" {
			status = "error: " + oneLine(s.Error, 100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.Client, s.Name, s.Target, status, s.Tools, s.Prompts, s.ResourceTemplates)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Findings) == 0 {
		_, err := fmt.Fprintln(w, "No findings.")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tTOOL\tSEVERITY\tRULE\tFIELD\tEXCERPT")
	for _, f := range r.Findings {
		name := f.Name
		if f.Kind != "tool" {
			name = f.Kind + ":" + f.Name
		}
		field := f.Field
		if f.Via != "" {
			field += " (" + f.Via + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", f.Client, f.Server, name, f.Severity, f.Detector, f.Rule, field, oneLine(f.Excerpt, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d finding(s).\n", len(r.Findings))
	return err
}

// oneLine returns s on one line, at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-3]) + "..."
	}
	return s
}
