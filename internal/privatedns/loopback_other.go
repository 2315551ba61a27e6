//go:build !linux

package privatedns

import (
	"errors"
	"runtime"
)

func addLoopback() error {
	return errors.New("the VNets' resolver needs Linux network namespaces; this is " + runtime.GOOS)
}
