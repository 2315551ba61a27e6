//go:build !linux

package cli

import (
	"errors"
	"runtime"
)

func execInNetNS(nsPath, dns, argv0 string, argv, env []string) error {
	return errors.New("vnet exec needs Linux network namespaces; this is " + runtime.GOOS)
}
