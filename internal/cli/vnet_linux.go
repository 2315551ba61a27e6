//go:build linux

package cli

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// execInNetNS replaces the process with argv0 inside the network
// namespace at nsPath. It returns only on failure.
func execInNetNS(nsPath, argv0 string, argv, env []string) error {
	runtime.LockOSThread() // the exec'ing thread must be the one in the namespace
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the host's namespace %s: %w (vnet exec runs on the machine that runs peerplane serve)", nsPath, err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("%s is not a network namespace", nsPath)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter the host's namespace %s: %w (vnet exec needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)", nsPath, err)
	}
	unix.Close(fd)
	if err := unix.Exec(argv0, argv, env); err != nil {
		return fmt.Errorf("run %s: %w", argv0, err)
	}
	return nil
}
