"""`mxbot live`: is a DNS change live at every name server of the zone and at the resolvers?"""
