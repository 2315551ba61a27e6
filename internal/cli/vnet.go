package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
)

// vnetHost is the server's answer to a host claim.
type vnetHost struct {
	IP       string `json:"ip"`
	VNet     string `json:"vnet"`
	VNetName string `json:"vnet_name"`
	Subnet   string `json:"subnet"`
	NetNS    string `json:"netns"`
	DNS      string `json:"dns"`
}

func (a *app) newVNetCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vnet", Short: "Run programs as hosts in the embedded Azure's VNets (the data plane)"}
	a.addConnFlags(cmd)
	cmd.AddCommand(a.newVNetExecCmd())
	return cmd
}

func (a *app) newVNetExecCmd() *cobra.Command {
	var vnet, ip, subnet string
	cmd := &cobra.Command{
		Use:   "exec --vnet VNET [--ip IP] [--subnet NAME] -- COMMAND [ARG...]",
		Short: "Run a command as a host in a VNet",
		Long: `Run COMMAND as a host in a VNet of the embedded Azure: its network is the
VNet's, with an address in one of the VNet's subnets, so it reaches exactly
what Azure would let it reach (peered VNets over Connected peerings, as the
security groups allow) and nothing else.

The address is claimed from the server (peerplane serve with the data
plane on, on this machine) for the command's lifetime: --ip picks it, or a
free one is chosen (in --subnet when given); Azure's first four and last
address of a subnet are never used. The command finds it in
$PEERPLANE_VNET_IP. peerplane becomes the command (same process, same exit
status); the claim is held by one inherited descriptor, the connection to
the server ($PEERPLANE_VNET_CLAIM_FD), and ends when the last process
holding it exits or is killed.

Names resolve as in an Azure VNet: the command runs in a mount namespace
of its own whose /etc/resolv.conf names the VNet's resolver (168.63.129.16,
$PEERPLANE_VNET_DNS), which answers the Kafka clusters' private names
(lkc-….azure.private.…) with their brokers' addresses. Nothing outside the
command sees that file; mounts made inside do not propagate out.

--vnet is a VNet resource id, resource-group/name, or a network id (n-…)
for its provider VNet. An organization may place hosts in its networks'
provider VNets and in the VNets whose ConfluentEnvIDs tag lists one of its
environments. Entering the VNet's namespace needs root, or CAP_SYS_ADMIN
and CAP_NET_ADMIN.`,
		Example: `  peerplane vnet exec --vnet contoso-network/contoso-vnet -- curl -sS http://10.200.17.34:8080/
  peerplane vnet exec --vnet n-abc123 --ip 10.200.1.10 -- python3 -m http.server 8080
  peerplane vnet exec --vnet contoso-network/contoso-vnet -- kcat -b lkc-abc123-def456.eastus.azure.private.confluent.cloud:9092 -L`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError(cmd, "missing COMMAND: give it after --")
			}
			path, err := exec.LookPath(args[0])
			if err != nil {
				return fmt.Errorf("command %s: %w", args[0], err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			host, fd, err := claimVNetHost(cmd.Context(), c, map[string]string{"vnet": vnet, "ip": ip, "subnet": subnet})
			if err != nil {
				return err
			}
			env := append(os.Environ(),
				"PEERPLANE_VNET_IP="+host.IP,
				"PEERPLANE_VNET_ID="+host.VNet,
				"PEERPLANE_VNET_SUBNET="+host.Subnet,
				"PEERPLANE_VNET_CLAIM_FD="+strconv.Itoa(fd))
			if host.DNS != "" {
				env = append(env, "PEERPLANE_VNET_DNS="+host.DNS)
			}
			return execInNetNS(host.NetNS, host.DNS, path, args, env)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&vnet, "vnet", "", "the VNet: a resource id, resource-group/name, or a network id (n-…)")
	fs.StringVar(&ip, "ip", "", "the host's address (default: a free one)")
	fs.StringVar(&subnet, "subnet", "", "the subnet to pick a free address in (default: any)")
	_ = cmd.MarkFlagRequired("vnet")
	return cmd
}

// claimVNetHost claims a host and returns it with a descriptor of the
// claim's connection that an exec'd command inherits: the server holds
// the claim while that connection is open.
func claimVNetHost(ctx context.Context, c *client, req map[string]string) (*vnetHost, int, error) {
	var conn net.Conn
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			conn = cn
			return cn, err
		},
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, c.creds.URL+"/peerplane/v1/vnet-hosts", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	hr.SetBasicAuth(c.creds.Key, c.creds.Secret)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", userAgent)
	resp, err := (&http.Client{Transport: tr}).Do(hr)
	if err != nil {
		return nil, 0, c.transportError(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, 0, parseFailure(resp.StatusCode, b)
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	var h vnetHost
	if err == nil {
		err = json.Unmarshal(line, &h)
	}
	if err != nil || h.IP == "" || h.NetNS == "" {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("the server's host claim is not what vnet exec expects: %q: %v", line, err)
	}
	tc, ok := conn.(syscall.Conn)
	if !ok {
		resp.Body.Close()
		return nil, 0, errors.New("the claim's connection has no descriptor")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, 0, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil || derr != nil {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("keep the claim's connection: %v", errors.Join(err, derr))
	}
	return &h, fd, nil
}
