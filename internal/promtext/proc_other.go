//go:build !linux

package promtext

// memory is known on Linux only; elsewhere the series are left out.
func memory() (vsz, rss float64, ok bool) { return 0, 0, false }

// openFDs is known on Linux only; elsewhere the series is left out.
func openFDs() (float64, bool) { return 0, false }

// processStart is known on Linux only; elsewhere the package's
// initialisation time stands in.
func processStart() (float64, bool) { return 0, false }
