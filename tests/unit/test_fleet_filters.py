"""The multi-host layout's filters: preflight's check of the inventory groups,
and the reading of HAProxy's `show stat` for the status playbook."""


from ansible_collections.flask_vps.stack.plugins.filter import balancer_status as status
from ansible_collections.flask_vps.stack.plugins.filter import fleet_layout as layout

GROUPS = {"vps": ["lb1", "web1", "web2", "db1"], "lb": ["lb1"], "web": ["web1", "web2"], "db": ["db1"]}
ADDRESSES = {"lb1": "10.0.0.2", "web1": "10.0.0.3", "web2": "10.0.0.4", "db1": "10.0.0.5"}


def errors(groups=None, addresses=None, **settings):
    return layout.fleet_layout_errors(groups or GROUPS, addresses or ADDRESSES, **settings)


def test_a_whole_layout_and_a_single_vps_pass():
    assert errors(app_postgres=True) == []
    assert layout.fleet_layout_errors({"vps": ["my-vps"], "ungrouped": []}, {}) == []


def test_the_load_balancer_is_exactly_one_host_outside_web():
    assert any("exactly one load balancer" in e for e in errors({**GROUPS, "lb": []}))
    assert any("exactly one load balancer" in e for e in errors({**GROUPS, "lb": ["lb1", "web1"]}))
    assert any("web1 is in both web and lb" in e for e in errors({**GROUPS, "lb": ["web1"]}))


def test_the_database_host_is_at_most_one_and_needed_by_app_postgres():
    assert any("group db has 2 hosts" in e for e in errors({**GROUPS, "db": ["db1", "lb1"]}))
    assert any("app_postgres is true" in e for e in errors({**GROUPS, "db": []}, app_postgres=True))
    assert errors({**GROUPS, "db": []}) == []


def test_lb_or_db_without_app_hosts_is_refused():
    assert any("need app hosts" in e for e in errors({"vps": ["lb1"], "lb": ["lb1"]}))


def test_every_host_is_a_vps_with_a_private_ipv4_address():
    assert any("db1 not in the group `vps`" in e for e in errors({**GROUPS, "vps": ["lb1", "web1", "web2"]}))
    message = errors(addresses={**ADDRESSES, "web2": None})
    assert message == [("vps_private_address of web2 is None: allowed is the IPv4 address the other hosts "
                        "of the layout reach it on (its private network's).")]
    assert errors(addresses={**ADDRESSES, "web2": "web2.internal"})


STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,addr
app,web1,0,0,1,3,,42,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,3,1,,42,,2,0,,3,L7OK,200,1,0,172.30.77.11:80
app,web2,0,0,0,2,,40,0,0,,0,,0,0,0,0,DOWN,1,1,0,2,1,3,3,,1,3,2,,40,,2,0,,2,L4TOUT,,1001,0,172.30.77.12:80

"""


def test_the_balancer_view_of_each_app_host():
    servers = status.balancer_servers(STAT)
    assert servers == [
        {"name": "web1", "address": "172.30.77.11:80", "status": "UP", "check": "L7OK", "sessions": 1},
        {"name": "web2", "address": "172.30.77.12:80", "status": "DOWN", "check": "L4TOUT", "sessions": 0},
    ]
    assert status.balancer_server_line(servers[1]) == (
        "web2 (172.30.77.12:80): DOWN, last check L4TOUT, 0 request(s) in flight")
