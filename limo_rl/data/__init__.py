"""limo_rl.data"""
