//go:build linux

package dataplane

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/peerplane/peerplane/internal/reach"
)

// tableName is the nftables table Peerplane keeps in each VNet namespace.
const tableName = "peerplane"

// applyRules makes the calling thread's namespace's table hold rs, in
// one transaction, so no packet sees a half-built ruleset. The first time
// it creates the table; after that it flushes and refills the chains and
// the vnet set in place rather than replacing the table, whose base
// chains' hooks would otherwise be unregistered and registered again (a
// network-wide synchronization that costs milliseconds). It must run in a
// namespace Peerplane made (kernel.do).
func (k *linuxKernel) applyRules(rs *ruleset) error {
	k.nftMu.Lock()
	defer k.nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	existing := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table.Name == tableName {
			existing[ch.Name] = &nftables.Chain{Name: ch.Name, Table: t}
		}
	}
	if existing["forward"] == nil || existing["input"] == nil {
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
		existing = nil
	}
	if err := nftEmit(c, t, rs, existing); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

type nftBuilder struct {
	c        *nftables.Conn
	t        *nftables.Table
	vnet     *nftables.Set
	internet *nftables.Set
	err      error
}

// nftEmit adds rs to the batch: into a new table when existing is nil,
// else into the table whose chains existing names, flushing them first.
func nftEmit(c *nftables.Conn, t *nftables.Table, rs *ruleset, existing map[string]*nftables.Chain) error {
	b := &nftBuilder{c: c, t: t}
	vnet, internet := prefixSpans(rs.VNet), prefixSpans(reach.NotInternet4)
	var fwd, in *nftables.Chain
	if existing == nil {
		b.vnet = b.set("vnet", false, nftables.TypeIPAddr, 4, vnet)
		b.internet = b.set("notinternet", false, nftables.TypeIPAddr, 4, internet)
		drop := nftables.ChainPolicyDrop
		fwd = c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
		in = c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	} else {
		fwd, in = existing["forward"], existing["input"]
		c.FlushChain(fwd)
		c.FlushChain(in)
		b.vnet = &nftables.Set{Table: t, Name: "vnet", Interval: true, KeyType: nftables.TypeIPAddr}
		c.FlushSet(b.vnet)
		if err := c.SetAddElements(b.vnet, intervalElements(vnet, 4)); err != nil {
			return fmt.Errorf("nftables set vnet: %w", err)
		}
		b.internet = &nftables.Set{Table: t, Name: "notinternet", Interval: true, KeyType: nftables.TypeIPAddr}
	}

	// Security group chains: emptied (or made), then filled.
	want := map[string]bool{}
	for _, ch := range rs.Chains {
		want[ch.Name] = true
		chain := existing[ch.Name]
		if chain != nil {
			c.FlushChain(chain)
		} else {
			chain = c.AddChain(&nftables.Chain{Name: ch.Name, Table: t})
		}
		for _, r := range ch.Rules {
			b.rule(chain, r.Comment, b.match(r), verdict(r.Allow))
		}
	}
	for name, chain := range existing {
		if name != "forward" && name != "input" && !want[name] {
			c.FlushChain(chain)
			c.DelChain(chain)
		}
	}

	b.rule(fwd, "no transit between peerings", cat(ifname(expr.MetaKeyIIFNAME, "p", true), ifname(expr.MetaKeyOIFNAME, "p", true)), &expr.Verdict{Kind: expr.VerdictDrop})
	b.rule(fwd, "stateful: return traffic", ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), &expr.Verdict{Kind: expr.VerdictAccept})
	b.rule(fwd, "invalid", ctState(expr.CtStateBitINVALID), &expr.Verdict{Kind: expr.VerdictDrop})
	for _, h := range rs.Hosts {
		b.rule(fwd, "source of "+h.Addr.String(), cat(ifname(expr.MetaKeyIIFNAME, h.Ifname, false), addrNeq(12, h.Addr.As4())), &expr.Verdict{Kind: expr.VerdictDrop})
	}
	for _, h := range rs.Hosts {
		if h.Out != "" {
			b.rule(fwd, "outbound of "+h.Addr.String(), ifname(expr.MetaKeyIIFNAME, h.Ifname, false), &expr.Verdict{Kind: expr.VerdictJump, Chain: h.Out})
		}
	}
	for _, h := range rs.Hosts {
		if h.In != "" {
			b.rule(fwd, "inbound of "+h.Addr.String(), ifname(expr.MetaKeyOIFNAME, h.Ifname, false), &expr.Verdict{Kind: expr.VerdictJump, Chain: h.In})
		}
	}
	for _, h := range rs.Hosts {
		b.rule(fwd, "from "+h.Addr.String(), ifname(expr.MetaKeyIIFNAME, h.Ifname, false), &expr.Verdict{Kind: expr.VerdictAccept})
		b.rule(fwd, "to "+h.Addr.String(), ifname(expr.MetaKeyOIFNAME, h.Ifname, false), &expr.Verdict{Kind: expr.VerdictAccept})
	}
	b.rule(in, "loopback", ifname(expr.MetaKeyIIFNAME, "lo", false), &expr.Verdict{Kind: expr.VerdictAccept})
	return b.err
}

func verdict(allow bool) expr.Any {
	if allow {
		return &expr.Verdict{Kind: expr.VerdictReturn}
	}
	return &expr.Verdict{Kind: expr.VerdictDrop}
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func (b *nftBuilder) rule(ch *nftables.Chain, comment string, match []expr.Any, v expr.Any) {
	b.c.AddRule(&nftables.Rule{Table: b.t, Chain: ch, Exprs: append(match, v),
		UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
}

// set adds an interval set of spans: addresses, or ports when keyLen is 2.
func (b *nftBuilder) set(name string, anonymous bool, typ nftables.SetDatatype, keyLen int, spans []span) *nftables.Set {
	s := &nftables.Set{Table: b.t, Name: name, Anonymous: anonymous, Constant: anonymous, Interval: true, KeyType: typ}
	els := intervalElements(spans, keyLen)
	if err := b.c.AddSet(s, els); err != nil && b.err == nil {
		b.err = fmt.Errorf("nftables set %s: %w", name, err)
	}
	return s
}

// match is the expressions of one compiled rule.
func (b *nftBuilder) match(r rsRule) []expr.Any {
	var out []expr.Any
	if r.Proto != protoAny {
		out = append(out,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.Proto}})
	}
	out = append(out, b.addr(12, r.Src)...)
	out = append(out, b.addr(16, r.Dst)...)
	out = append(out, b.ports(0, r.SPorts)...)
	out = append(out, b.ports(2, r.DPorts)...)
	return out
}

// addr matches the IPv4 source (offset 12) or destination (16).
func (b *nftBuilder) addr(off uint32, c addrCond) []expr.Any {
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
	switch c.Kind {
	case condSet:
		s := b.set("", true, nftables.TypeIPAddr, 4, c.Set)
		return []expr.Any{load, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}}
	case condVNet:
		return []expr.Any{load, &expr.Lookup{SourceRegister: 1, SetName: b.vnet.Name, SetID: b.vnet.ID}}
	case condInternet:
		return []expr.Any{load,
			&expr.Lookup{SourceRegister: 1, SetName: b.internet.Name, SetID: b.internet.ID, Invert: true},
			&expr.Lookup{SourceRegister: 1, SetName: b.vnet.Name, SetID: b.vnet.ID, Invert: true}}
	}
	return nil
}

// intervalElements are the elements of an interval set of spans, as nft
// sends them: a leading end-of-interval at zero unless the first range
// starts there, then each range's start and the end after it.
func intervalElements(spans []span, keyLen int) []nftables.SetElement {
	key := func(v uint64) []byte {
		if keyLen == 2 {
			return binary.BigEndian.AppendUint16(nil, uint16(v))
		}
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	limit := uint64(1)<<(8*keyLen) - 1
	var els []nftables.SetElement
	if len(spans) > 0 && spans[0].Lo != 0 {
		els = append(els, nftables.SetElement{Key: key(0), IntervalEnd: true})
	}
	for _, sp := range spans {
		els = append(els, nftables.SetElement{Key: key(uint64(sp.Lo))})
		if uint64(sp.Hi) < limit {
			els = append(els, nftables.SetElement{Key: key(uint64(sp.Hi) + 1), IntervalEnd: true})
		}
	}
	return els
}

// ports matches the transport source (offset 0) or destination (2) port;
// rules with ports always name TCP or UDP first.
func (b *nftBuilder) ports(off uint32, spans []span) []expr.Any {
	if spans == nil {
		return nil
	}
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
	if len(spans) == 1 {
		from, to := binaryutil.BigEndian.PutUint16(uint16(spans[0].Lo)), binaryutil.BigEndian.PutUint16(uint16(spans[0].Hi))
		if spans[0].Lo == spans[0].Hi {
			return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: from}}
		}
		return []expr.Any{load, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: from, ToData: to}}
	}
	s := b.set("", true, nftables.TypeInetService, 2, spans)
	return []expr.Any{load, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}}
}

// ifname matches an interface name, or a name prefix.
func ifname(key expr.MetaKey, name string, prefix bool) []expr.Any {
	data := []byte(name)
	if !prefix {
		data = make([]byte, 16)
		copy(data, name)
	}
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data}}
}

func addrNeq(off uint32, a [4]byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: a[:]},
	}
}

func ctState(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}
