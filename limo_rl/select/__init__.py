"""limo_rl.select"""
