//! IANA's keyword of each IP protocol number (the `protocol_name` column).
//!
//! From IANA's "Assigned Internet Protocol Numbers" registry (protocol-numbers-1.csv, as of 2025:
//! 143 Ethernet to 147 BIT-EMU assigned), keyword column verbatim, deprecated ones included as IANA
//! writes them. Numbers with no keyword (61, 63, 68, 99, 114, 253, 254: "any ... protocol" and
//! experimentation) and unassigned ones (148-252) have no name. 84 has two keywords in the registry
//! (TTP and IPTM, listed in that order); the later one, IPTM, is given.

/// The keyword of protocol number `n`, `None` when IANA gives it none (or `n` is not 0-255).
pub fn name(n: i64) -> Option<&'static str> {
    usize::try_from(n)
        .ok()
        .and_then(|i| KEYWORDS.get(i))
        .copied()
        .filter(|k| !k.is_empty())
}

/// Keywords of protocols 0 to 147; "" where the registry has none.
const KEYWORDS: [&str; 256] = {
    let assigned: [&str; 148] = [
        "HOPOPT",
        "ICMP",
        "IGMP",
        "GGP",
        "IPv4",
        "ST",
        "TCP",
        "CBT",
        "EGP",
        "IGP",
        "BBN-RCC-MON",
        "NVP-II",
        "PUP",
        "ARGUS (deprecated)",
        "EMCON",
        "XNET",
        "CHAOS",
        "UDP",
        "MUX",
        "DCN-MEAS",
        "HMP",
        "PRM",
        "XNS-IDP",
        "TRUNK-1",
        "TRUNK-2",
        "LEAF-1",
        "LEAF-2",
        "RDP",
        "IRTP",
        "ISO-TP4",
        "NETBLT",
        "MFE-NSP",
        "MERIT-INP",
        "DCCP",
        "3PC",
        "IDPR",
        "XTP",
        "DDP",
        "IDPR-CMTP",
        "TP++",
        "IL",
        "IPv6",
        "SDRP",
        "IPv6-Route",
        "IPv6-Frag",
        "IDRP",
        "RSVP",
        "GRE",
        "DSR",
        "BNA",
        "ESP",
        "AH",
        "I-NLSP",
        "SWIPE (deprecated)",
        "NARP",
        "Min-IPv4",
        "TLSP",
        "SKIP",
        "IPv6-ICMP",
        "IPv6-NoNxt",
        "IPv6-Opts",
        "",
        "CFTP",
        "",
        "SAT-EXPAK",
        "KRYPTOLAN",
        "RVD",
        "IPPC",
        "",
        "SAT-MON",
        "VISA",
        "IPCV",
        "CPNX",
        "CPHB",
        "WSN",
        "PVP",
        "BR-SAT-MON",
        "SUN-ND",
        "WB-MON",
        "WB-EXPAK",
        "ISO-IP",
        "VMTP",
        "SECURE-VMTP",
        "VINES",
        "IPTM",
        "NSFNET-IGP",
        "DGP",
        "TCF",
        "EIGRP",
        "OSPFIGP",
        "Sprite-RPC",
        "LARP",
        "MTP",
        "AX.25",
        "IPIP",
        "MICP (deprecated)",
        "SCC-SP",
        "ETHERIP",
        "ENCAP",
        "",
        "GMTP",
        "IFMP",
        "PNNI",
        "PIM",
        "ARIS",
        "SCPS",
        "QNX",
        "A/N",
        "IPComp",
        "SNP",
        "Compaq-Peer",
        "IPX-in-IP",
        "VRRP",
        "PGM",
        "",
        "L2TP",
        "DDX",
        "IATP",
        "STP",
        "SRP",
        "UTI",
        "SMP",
        "SM (deprecated)",
        "PTP",
        "ISIS over IPv4",
        "FIRE",
        "CRTP",
        "CRUDP",
        "SSCOPMCE",
        "IPLT",
        "SPS",
        "PIPE",
        "SCTP",
        "FC",
        "RSVP-E2E-IGNORE",
        "Mobility Header",
        "UDPLite",
        "MPLS-in-IP",
        "manet",
        "HIP",
        "Shim6",
        "WESP",
        "ROHC",
        "Ethernet",
        "AGGFRAG",
        "NSH",
        "Homa",
        "BIT-EMU",
    ];
    let mut all = [""; 256];
    let mut i = 0;
    while i < assigned.len() {
        all[i] = assigned[i];
        i += 1;
    }
    all[255] = "Reserved";
    all
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_protocols_and_the_edges() {
        assert_eq!(name(6), Some("TCP"));
        assert_eq!(name(17), Some("UDP"));
        assert_eq!(name(1), Some("ICMP"));
        assert_eq!(name(58), Some("IPv6-ICMP"));
        assert_eq!(name(147), Some("BIT-EMU"));
        assert_eq!(name(148), None);
        assert_eq!(name(253), None);
        assert_eq!(name(255), Some("Reserved"));
        assert_eq!(name(256), None);
        assert_eq!(name(-1), None);
    }
}
